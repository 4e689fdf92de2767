# Vigil's single entry point. Every target provisions what it needs (scripts/bootstrap is
# idempotent and fast once done).
SHELL := /bin/bash
export PKG_CONFIG_PATH := $(CURDIR)/.deps/pkgconfig$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH))

.PHONY: all bootstrap build release test fuzz run bench bench-stream bench-api format broker-up broker-down broker-status clean

all: build

## Install build dependencies and librdkafka >= 2.2 (.deps/).
bootstrap:
	@scripts/bootstrap

## Debug build of vigil.
build: bootstrap
	swift build

## Optimised build of vigil (.build/release/vigil).
release: bootstrap
	swift build -c release --product vigil

## Everything the tests need (librdkafka, the local broker), then all tests.
test:
	@scripts/test

## libFuzzer targets (Fuzz/), FUZZ_SECONDS each (default 60); fails on the first crash.
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/fuzz $(FUZZ_SECONDS)

## Bootstrap, start the local broker, create the topics, run the main job.
run:
	@scripts/run

## Detection-engine benchmark on one core, baselines in the same run (release build).
bench: bootstrap
	swift build -c release --product vigil-bench
	.build/release/vigil-bench engine

## vigil stream end to end vs a plain librdkafka consumer on the same topic (local broker).
bench-stream:
	@scripts/bench-stream

## vigil serve's /analyze under load (hey) vs the in-process analysis of the same bodies.
bench-api:
	@scripts/bench-api

## Format the sources with swift-format (configuration: .swift-format, 120 columns).
format:
	swift format format --in-place --recursive --parallel Sources Tests Package.swift

broker-up: build
	@scripts/broker up

broker-down:
	@scripts/broker down

broker-status:
	@scripts/broker status

clean:
	rm -rf .build
