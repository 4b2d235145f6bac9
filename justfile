# platform-bootstrap: from nothing to a converged GitOps platform, and back.
# `just --list` shows every recipe. Environments live in environments/<env>/config.yaml.

set shell := ["bash", "-euo", "pipefail", "-c"]
set positional-arguments

export PATH := justfile_directory() + "/node_modules/.bin:" + env_var('PATH')

# List the recipes
default:
    @just --list --unsorted

# Create (or converge again) an environment: steps 00-cluster … 09-openbao-setup [--from NN] [--dry-run]
create env="dev" *flags:
    bun scripts/create.ts "$@"

# Tear an environment's cluster down; keys, secrets files and an OpenBao snapshot are kept [--no-snapshot when none can be taken] [--force for clusters it did not make]
destroy env="dev" *flags:
    bun scripts/destroy.ts "$@"

# OpenBao for runtime secrets: init, KV v2, kubernetes auth, per-app policies/roles, initial secrets [--rotate app/field]
openbao-setup env="dev" *flags:
    bun scripts/09-openbao-setup.ts "$@"

# OpenBao's data as a snapshot, age-encrypted to the environment's keys, into openbao.snapshotFile (destroy takes one first)
backup env="dev" *flags:
    bun scripts/backup.ts "$@"

# Put a snapshot back into the running OpenBao [--from FILE] [--force to replace values newer than it]
restore env="dev" *flags:
    bun scripts/restore.ts "$@"

# Onboard a tenant: `add <name> --repo <url>` writes its namespace, quota, limits, AppProject and Application, registers its repository in each environment and its credential in each SOPS file; `remove <name>` the reverse [--env e] [--dry-run]
tenant *args:
    bun scripts/tenant.ts "$@"

# Run one step of the runbook on its own, e.g. `just step 04 local`
step id env="dev" *flags:
    bun scripts/create.ts --env "$2" --step "$1" "${@:3}"

# Install every pinned tool into the cache (~/.cache/platform-bootstrap/tools); a second run builds nothing
tools *names:
    bun scripts/tools.ts "$@"

# Each tool, its pinned version, where it came from, and how to get what is missing
doctor:
    bun scripts/doctor.ts

# The whole test suite: tools, lint, secrets check, workflows, unit tests, the runbook on the local provider
test:
    bun scripts/test.ts

# Unit tests only (fast)
test-unit:
    bun scripts/test.ts unit

# Format and lint
lint:
    biome check .

# Benchmarks: figures printed and written to reports/bench.json (never asserted in tests) [--only phase,…] [--runs N] [--sizes 1,10,100]
bench *args:
    bun tests/bench/bench.ts "$@"

# Destroy and recreate the full stack on kind and assert convergence (needs Docker and internet)
e2e env="dev":
    bun tests/e2e/harness.ts --env "$1"

# Secrets from .env into SOPS-encrypted overlay Secrets: DEV_/STAGING_/PROD_* per env, APP_* skipped, the rest core [--from file]
secrets-generate *flags:
    bun scripts/secrets-generate.ts "$@"

# Edit an environment's bootstrap secrets file in sops' editor
secrets-edit env:
    bun scripts/secrets-edit.ts "$@"

# After .sops.yaml recipients change: re-encrypt every SOPS file for them (sops updatekeys), listing what changed
secrets-rotate:
    bun scripts/secrets-rotate.ts "$@"

# Fail on a plaintext Secret or secrets file, a SOPS file with the wrong recipients, or a committed private key
secrets-check:
    bun scripts/secrets-check.ts "$@"
