import Testing

@testable import VigilAPI
