#!/usr/bin/env bash
# Builds (once per machine) the Debian root the real-systemd tests boot with `systemd-nspawn --boot`
# (apps/agent/test/systemd.test.ts), and prints its path as the last line of stdout.
#
# The root is cached OUTSIDE the repo, under /var/cache/procwatch-systemd-rig/<hash>/root, where
# <hash> is the sha256 of this script: changing what goes into the image (this file) builds a new
# one, and the old ones are deleted once it is complete. A cached root is never written to: the
# tests boot it with --volatile=overlay, so every boot starts from the same image.
#
# Called by scripts/bootstrap (so CI and a new machine pay the ~3 minutes during setup) and by the
# tests themselves when the cache is missing. Idempotent and safe to run concurrently (flock).
# Needs root, debootstrap and systemd-nspawn (Debian: debootstrap, systemd-container), and the
# Debian archive: the mirror this machine's apt uses, or PROCWATCH_RIG_MIRROR.
set -euo pipefail

SUITE=bookworm
# systemd + dbus: a real init with systemctl; passwd: useradd for the cwagent account.
PACKAGES=systemd,systemd-sysv,dbus,passwd
CACHE_ROOT="${PROCWATCH_RIG_CACHE:-/var/cache/procwatch-systemd-rig}"

say() { printf 'build-rig: %s\n' "$*" >&2; }
die() {
  say "error: $1"
  say "hint: ${2:-run scripts/bootstrap (as root) on this machine}"
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "the systemd rig needs root (debootstrap and systemd-nspawn --boot); running as uid $(id -u)" "run the tests as root, as CI does"
for tool in debootstrap:debootstrap systemd-nspawn:systemd-container flock:util-linux sha256sum:coreutils; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || die "${tool%%:*} is missing (Debian package ${tool#*:})"
done

hash="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)"
target="$CACHE_ROOT/$hash"
if [ -f "$target/complete" ]; then
  printf '%s\n' "$target/root"
  exit 0
fi

# The same Debian mirror this machine's apt uses (deb822 sources first, then sources.list).
mirror() {
  if [ -n "${PROCWATCH_RIG_MIRROR:-}" ]; then
    printf '%s\n' "$PROCWATCH_RIG_MIRROR"
    return
  fi
  local found=""
  if [ -r /etc/apt/sources.list.d/debian.sources ]; then
    found="$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' /etc/apt/sources.list.d/debian.sources)"
  fi
  if [ -z "$found" ] && [ -r /etc/apt/sources.list ]; then
    found="$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list)"
  fi
  printf '%s\n' "${found:-http://deb.debian.org/debian}"
}

mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.lock"
say "waiting for the build lock $CACHE_ROOT/.lock"
flock -w 900 9 || die "another build held $CACHE_ROOT/.lock for 15 minutes" "look for a stuck build-rig.sh or debootstrap process"
if [ -f "$target/complete" ]; then
  printf '%s\n' "$target/root"
  exit 0
fi

work="$CACHE_ROOT/.build-$hash"
rm -rf "$work"
mkdir -p "$work"
url="$(mirror)"
started=$SECONDS
say "debootstrap --variant=minbase $SUITE from $url into $work/root (about 3 minutes)"
if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$work/root" "$url" >"$work/debootstrap.log" 2>&1; then
  tail -n 20 "$work/debootstrap.log" >&2
  die "debootstrap failed (log: $work/debootstrap.log)" "check that $url is reachable, or set PROCWATCH_RIG_MIRROR"
fi

root="$work/root"
# The CloudWatch agent's default run_as_user, so tests see what an unprivileged agent can read.
chroot "$root" useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin cwagent
systemctl --root="$root" set-default multi-user.target >/dev/null 2>&1
# Nothing in the rig needs a login prompt or the apt timers.
systemctl --root="$root" mask console-getty.service apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1 || true
printf 'procwatch-rig\n' >"$root/etc/hostname"
printf '%s\n' "$hash" >"$root/etc/procwatch-rig-release"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
printf 'built %s in %ss from %s\n' "$(date -u +%FT%TZ)" "$((SECONDS - started))" "$url" >"$work/complete"
rm -rf "$target"
mv "$work" "$target"
for old in "$CACHE_ROOT"/*/; do
  [ "${old%/}" = "$target" ] || rm -rf "${old%/}"
done
say "built $target/root in $((SECONDS - started)) s"
printf '%s\n' "$target/root"
