import VigilKafka
print(LibRdKafka.version)
