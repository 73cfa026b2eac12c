#!/bin/sh
# Stand-in for amazon-cloudwatch-agent-ctl inside the systemd rig (the real agent is not installed
# there): it does what procwatch-agent relies on. `-a append-config -c file:<path>` copies <path> to
# amazon-cloudwatch-agent.d/file_<name> (the real config downloader's naming), `-a remove-config`
# deletes that copy, `-a status` prints the status JSON. Every call is logged to ctl-calls.log.
dir=/opt/aws/amazon-cloudwatch-agent
config_dir="$dir/etc/amazon-cloudwatch-agent.d"
echo "$*" >>"$dir/logs/ctl-calls.log"
action=""
config=""
while [ $# -gt 0 ]; do
  case "$1" in
    -a) action="$2"; shift 2 ;;
    -c) config="$2"; shift 2 ;;
    *) shift ;;
  esac
done
source_file="${config#file:}"
case "$action" in
  status) echo '{"status":"running","starttime":"2026-01-01T00:00:00+00:00","configstatus":"configured","version":"1.300064.0"}' ;;
  append-config) mkdir -p "$config_dir" && cp "$source_file" "$config_dir/file_$(basename "$source_file")" ;;
  remove-config) rm "$config_dir/file_$(basename "$source_file")" ;;
  start | stop) ;;
  *) echo "fake ctl: unsupported action $action" >&2; exit 1 ;;
esac
