# Sourced by the build-*.sh scripts: one progress line per step on stderr, the Go tool's output in the build log.
# Needs `buildlog` (the log file) and `tag` (the line's prefix, e.g. "control-plane build") set by the caller.

log() { printf '[%s] %s\n' "$tag" "$*" >&2; }

elapsed() {
  local s=$(( $(date +%s) - $1 ))
  if [ "$s" -ge 60 ]; then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}

# step WHAT COMMAND...: runs COMMAND with its output appended to the build log. On failure: the log's tail, exit 1.
step() {
  local what="$1" t0
  shift
  t0=$(date +%s)
  printf '[%s] %s … ' "$tag" "$what" >&2
  if "$@" >>"$buildlog" 2>&1; then
    printf 'done in %s, log: %s\n' "$(elapsed "$t0")" "$buildlog" >&2
  else
    printf 'failed after %s, log: %s\n' "$(elapsed "$t0")" "$buildlog" >&2
    tail -n 30 "$buildlog" >&2
    exit 1
  fi
}
