# Shared by the bench/ scripts (sourced, not run).
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
# need COMMAND DEBIAN-PACKAGE: installs the package when the command is missing.
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$2"
}
