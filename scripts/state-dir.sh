# Sourced by scripts/test-servers.sh and scripts/test-postgres.sh (which set NAME first):
# their messages, and the check that a private state directory is safe to create, fill and
# remove.

die() {
  echo "$NAME: error: $*" >&2
  exit 1
}
say() { echo "$NAME: $*" >&2; }

# Prints the state directory $1 made absolute, without a trailing slash. Server
# configuration values and env files are not quoted, and `down` removes the directory: the
# path must be plain and must not be a system directory.
state_dir() {
  local state=$1
  case $state in
  /*) ;;
  *) state=$PWD/$state ;;
  esac
  state=${state%/}
  [[ $state =~ ^/[A-Za-z0-9._/-]+$ ]] ||
    die "state dir '$state' must be a path of letters, digits, '.', '_', '-' and '/'"
  [[ $state != / && $state != /tmp && $state != /root && $state != /home ]] ||
    die "refusing state dir '$state'"
  printf '%s\n' "$state"
}
