#!/bin/sh
# Installed as `sh` first on the PATH the SSM Agent stand-in (ssm-documents/test/support/
# ssm-agent-stand-in.ts) runs scripts with. The stand-in does what the SSM Agent does: it writes
# the runCommand lines to <work dir>/orchestration/<step>/_script.sh, exports SSM_<name> variables
# and runs `sh -c <path of _script.sh>`. Its work dir is a host directory bind-mounted into the rig
# machine (PROCWATCH_RIG_HOST_DIR on this host is PROCWATCH_RIG_MACHINE_DIR in the machine, e.g.
# /var/lib/amazon/ssm). This bridge runs that same `sh -c _script.sh` inside the machine, with the
# stand-in's environment (the SSM_* variables) and the PATH the SSM Agent has on Debian, so the
# script's own #!/bin/bash line decides its shell.
set -eu
leader="${PROCWATCH_RIG_LEADER:?the rig bridge needs PROCWATCH_RIG_LEADER}"
if [ "$#" -ne 2 ] || [ "$1" != "-c" ]; then
  echo "ssm-shell-bridge: expected: sh -c <script path>, got: $*" >&2
  exit 97
fi
host_dir="${PROCWATCH_RIG_HOST_DIR:?the rig bridge needs PROCWATCH_RIG_HOST_DIR}"
machine_dir="${PROCWATCH_RIG_MACHINE_DIR:?the rig bridge needs PROCWATCH_RIG_MACHINE_DIR}"
script="$2"
case "$script" in
  "$host_dir"/*) ;;
  *)
    echo "ssm-shell-bridge: $script is not under $host_dir, the directory the rig machine sees as $machine_dir" >&2
    exit 97
    ;;
esac
inside="$machine_dir${script#"$host_dir"}"
# nsenter opens --wd's directory on this host before it enters the machine: name it through the
# machine's root, so that inside it is /var/lib/amazon/ssm/... and not an unreachable host mount.
exec nsenter --target="$leader" --all --wd="/proc/$leader/root$(dirname "$inside")" -- \
  /usr/bin/env -u PROCWATCH_RIG_LEADER -u PROCWATCH_RIG_HOST_DIR -u PROCWATCH_RIG_MACHINE_DIR \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root \
  /bin/sh -c "$inside"
