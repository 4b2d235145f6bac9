#!/bin/sh
# KSOPS STAND-IN: this is NOT KSOPS. KSOPS (viaduct-ai/kustomize-sops) is served by no registry
# these machines reach, so the local provider puts this script where kustomize looks for KSOPS as
# a legacy exec plugin: $KUSTOMIZE_PLUGIN_HOME/viaduct.ai/v1/ksops/ksops.
#
# What it does: kustomize calls it with one argument, a temp file holding the `kind: ksops`
# generator re-serialised as block-style YAML, from the kustomization's directory. It reads the
# generator's `files:` list and runs the REAL `sops --decrypt` on each file, printing the
# decrypted manifests separated by `---`. Any file sops cannot decrypt (missing, wrong key,
# tampered) stops the build: the file is named on stderr and the exit status is 1.
#
# What a render through it proves: the overlay layout, the generator, kustomize's plugin lookup
# (KUSTOMIZE_PLUGIN_HOME, --enable-alpha-plugins), SOPS_AGE_KEY_FILE and the cluster age key, and
# that the committed files are really encrypted to that key.
# What it does NOT prove: KSOPS itself (its parsing, `secretFrom`, generator options, KRM mode)
# nor the init container that installs it. Those are proven only on kind, where the
# repo-server's init container installs the real binary (lib/argocd/settings.ts).
set -eu

fail() {
  echo "ksops stand-in: $*" >&2
  exit 1
}

[ "$#" -eq 1 ] || fail "expected exactly one argument (the generator file kustomize writes), got $#"
generator=$1
[ -r "$generator" ] || fail "cannot read the generator file $generator"
command -v sops >/dev/null 2>&1 || fail "sops is not on PATH (the real sops decrypts; this script only drives it)"

# The `files:` list only: block items below the key (`- a`, `  - "b"`), or a flow list on the key's
# own line (`files: [a, b]`). Quotes around an item are dropped; comments are already gone, since
# kustomize re-serialises the generator. One path per output line.
files=$(awk '
  function emit(item) {
    gsub(/^[ \t]+|[ \t]+$/, "", item)
    if (item ~ /^".*"$/ || item ~ /^\047.*\047$/) item = substr(item, 2, length(item) - 2)
    if (item != "") print item
  }
  /^files:[ \t]*\[/ {
    line = $0
    sub(/^files:[ \t]*\[/, "", line); sub(/\][ \t]*$/, "", line)
    n = split(line, items, ",")
    for (i = 1; i <= n; i++) emit(items[i])
    next
  }
  /^files:[ \t]*$/ { inlist = 1; next }
  inlist && /^[ \t]*-[ \t]/ { line = $0; sub(/^[ \t]*-[ \t]+/, "", line); emit(line); next }
  inlist && /^[ \t]*(#.*)?$/ { next }
  { inlist = 0 }
' "$generator")

# As KSOPS: no `files` key is an error, an empty list renders nothing. `secretFrom` is KSOPS-only.
if grep -q '^secretFrom:' "$generator"; then
  fail "the generator in $generator uses secretFrom, which this stand-in does not implement"
fi
if ! grep -q '^files:' "$generator"; then
  fail "the generator in $generator has no files: key"
fi

errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
first=1
# One path per line: split on newlines only (spaces in a path survive) and never glob (KSOPS lists
# files literally, it does not expand patterns).
set -f
old_ifs=$IFS
IFS='
'
for file in $files; do
  IFS=$old_ifs
  [ -f "$file" ] || fail "$file: no such file (listed in the generator; paths are relative to $(pwd))"
  # stderr apart from stdout: a warning printed on success must not end up inside a manifest.
  if ! decrypted=$(sops --decrypt "$file" 2>"$errors"); then
    fail "sops could not decrypt $file: $(cat "$errors")"
  fi
  if [ "$first" -eq 0 ]; then printf -- '---\n'; fi
  first=0
  printf '%s\n' "$decrypted"
done
