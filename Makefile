# Agent rollback coordination: draft and reference node.
SHELL := /bin/bash
.DEFAULT_GOAL := test

DRAFT := draft/draft-marp-agent-rollback-00.xml
# npm ci writes node_modules/.package-lock.json; reinstall when it is missing
# or older than package.json / package-lock.json.
DEPS_STAMP := node_modules/.package-lock.json

.PHONY: install system-deps build typecheck test draft demo bench clean requirements mutation exhaustive

$(DEPS_STAMP): package.json package-lock.json
	npm ci
	@touch $(DEPS_STAMP)

install:
	npm ci
	@touch $(DEPS_STAMP)

build: $(DEPS_STAMP)
	npm run build

typecheck: $(DEPS_STAMP)
	npm run typecheck

draft: $(DEPS_STAMP) system-deps
	node scripts/check-draft.mjs

system-deps:
	@scripts/system-deps.sh

test: $(DEPS_STAMP) system-deps
	$(MAKE) --no-print-directory draft
	npm run --silent typecheck
	npm run --silent build
	npx --no-install tap

demo: $(DEPS_STAMP)
	npm run build
	node dist/src/cli/main.js demo

bench: $(DEPS_STAMP)
	npm run bench

# Traceability matrix: interop-tests/report/requirements.{md,json}; fails if a
# MUST-level requirement has no test (test/contract/traceability.test.ts checks it too).
requirements: $(DEPS_STAMP)
	node --import tsx scripts/requirements.ts --check

# Mutation testing (StrykerJS) of src/envelope and src/core; slow, not part of
# `make test`. PARTS="pipeline core-rules" for a quicker subset.
mutation: $(DEPS_STAMP)
	scripts/mutation.sh $(PARTS)

# Exhaustive exploration with every fault for every family, the diamond's late
# deadlines included (about 590,000 states, 10-20 minutes); `make test` runs the rest.
exhaustive: $(DEPS_STAMP)
	MARP_EXHAUSTIVE_FULL=1 MARP_EXHAUSTIVE_STATS=1 node --import tsx test/core/exhaustive.test.ts

clean:
	rm -rf dist coverage .tap
