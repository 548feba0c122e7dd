#!/bin/sh
# Regenerates the golden files from src/*.yaml with the real sops 3.11 (values left in plain text
# with --unencrypted-regex '.', so the output is go-yaml v3's rendering of sops's tree).
#   <name>.i<N>.enc.yaml  what `sops encrypt` wrote with stores.yaml.indent N
#   <name>.i<N>.yaml      what `sops decrypt` wrote from it
# (decrypt uses --ignore-mac: some float texts, like -0 read back as an int, change the MAC.)
# Usage: sh regen.sh   (from anywhere; needs sops and the fixture key)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
key=$here/../sops-3.11/key1.txt
recipient=$(grep -o 'age1[a-z0-9]*' "$key" | head -1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for indent in 4 2; do
  printf 'stores:\n  yaml:\n    indent: %s\n' "$indent" > "$tmp/.sops.yaml"
  for src in "$here"/src/*.yaml; do
    name=$(basename "$src" .yaml)
    cp "$src" "$tmp/$name.yaml"
    (cd "$tmp" && SOPS_AGE_KEY_FILE=$key sops --config "$tmp/.sops.yaml" encrypt --unencrypted-regex '.' --age "$recipient" "$name.yaml") > "$here/$name.i$indent.enc.yaml"
    cp "$here/$name.i$indent.enc.yaml" "$tmp/$name.enc.yaml"
    (cd "$tmp" && SOPS_AGE_KEY_FILE=$key sops --config "$tmp/.sops.yaml" decrypt --ignore-mac "$name.enc.yaml") > "$here/$name.i$indent.yaml"
  done
done
