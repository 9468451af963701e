#!/bin/sh
# Pin every Task and StepAction in tekton/ to a built slsacheck step image.
#   tekton/image/pin.sh sha256:<64 hex> [REPOSITORY]
# REPOSITORY defaults to the one the Tasks name now (ghcr.io/slsacheck/slsacheck).
# Only `image:` lines naming the slsacheck image change; other images are left alone.
set -eu
digest="${1:-}"
case "${digest}" in
  sha256:*) hex="${digest#sha256:}" ;;
  *) echo "usage: $0 sha256:<64 hex digest> [REPOSITORY]" >&2; exit 2 ;;
esac
if [ "${#hex}" -ne 64 ] || [ -n "$(printf '%s' "${hex}" | tr -d '0-9a-f')" ]; then
  echo "not a sha256 digest: ${digest}" >&2
  exit 2
fi
tekton_dir="$(cd "$(dirname "$0")/.." && pwd)"
repo="${2:-}"
for file in "${tekton_dir}"/tasks/*.yaml "${tekton_dir}"/stepactions/*.yaml; do
  [ -f "${file}" ] || continue
  tmp="${file}.pin.$$"
  # image: <repo ending in /slsacheck>[:tag]@sha256:<hex>  ->  the new repository and digest
  sed -E "s#^([[:space:]]*image:[[:space:]]*)([^[:space:]@]*/slsacheck)(:[^@[:space:]]+)?@sha256:[0-9a-f]{64}#\1${repo:-\2}\3@${digest}#" \
    "${file}" > "${tmp}"
  if cmp -s "${file}" "${tmp}"; then rm -f "${tmp}"; else mv "${tmp}" "${file}"; echo "pinned ${file}"; fi
done
