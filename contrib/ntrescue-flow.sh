#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# detect -> fix -> verify with ntrescue on a Linux helper that has the
# broken Windows system disk attached (not mounted). Shared by the AWS SSM
# Automation document (contrib/aws/ntrescue-rdp.yaml embeds this file
# verbatim) and the Azure `az vm repair run --custom-script` flow
# (contrib/azure/).
#
# Settings come from the environment or from KEY=VALUE arguments:
#   NTRESCUE_BIN   an ntrescue binary already on the helper, or
#   NTRESCUE_URL   where to fetch it: s3://... (aws cli), https://...
#   DEVICE         the disk to repair, e.g. /dev/nvme1n1; or found by
#   EBS_VOLUME_ID  vol-... (AWS Nitro: the NVMe serial), or
#   AZURE_LUN      the data disk's LUN (/dev/disk/azure/scsi1/lunN), or
#                  when none is given, the only disk `ntrescue locate` finds
#                  Windows on
#   FIX            the fix to run [rdp repair]
#   FIX_ARGS       extra fix options, space-separated [--firewall-profiles-off]
#   BACKUP_DIR     where the backup bundle goes [/var/lib/ntrescue/backups]
#   BUNDLE_S3_URI  when set (s3://bucket/prefix/), the packed bundle is uploaded there
#   WORK_DIR       reports and the downloaded binary [/var/lib/ntrescue/run]
#
# The last line printed is the status marker the orchestrator branches on:
#   NTRESCUE_RESULT=<fixed|nothing-to-do|partial|refused|error> ...
# and the exit code is 0 for fixed/nothing-to-do, 3 refused, 4 partial,
# 1 error.
set -euo pipefail

for kv in "$@"; do
  case "$kv" in
    NTRESCUE_BIN=* | NTRESCUE_URL=* | DEVICE=* | EBS_VOLUME_ID=* | AZURE_LUN=* | FIX=* | FIX_ARGS=* | BACKUP_DIR=* | BUNDLE_S3_URI=* | WORK_DIR=*)
      export "${kv?}"
      ;;
    *)
      echo "ntrescue-flow: unknown argument '$kv' (expected KEY=VALUE)" >&2
      exit 2
      ;;
  esac
done

FIX=${FIX:-rdp repair}
FIX_ARGS=${FIX_ARGS---firewall-profiles-off}
BACKUP_DIR=${BACKUP_DIR:-/var/lib/ntrescue/backups}
WORK_DIR=${WORK_DIR:-/var/lib/ntrescue/run}
mkdir -p "$WORK_DIR" "$BACKUP_DIR"

result() {
  # result STATUS EXIT DETAIL: the final status marker, then exit.
  echo "NTRESCUE_RESULT=$1 device=${DEVICE:-none} $3"
  exit "$2"
}

json_field() {
  # json_field FILE EXPR: a field of a JSON document (python3 is on every
  # stock helper image; jq often is not).
  python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    d = d.get(k) if isinstance(d, dict) else None
print("" if d is None else d)' "$1" "$2" 2>/dev/null || true
}

fetch_binary() {
  if [ -n "${NTRESCUE_BIN:-}" ]; then
    [ -x "$NTRESCUE_BIN" ] || result error 1 "reason=\"NTRESCUE_BIN $NTRESCUE_BIN is not executable\""
    return
  fi
  [ -n "${NTRESCUE_URL:-}" ] || result error 1 "reason=\"neither NTRESCUE_BIN nor NTRESCUE_URL is set\""
  NTRESCUE_BIN="$WORK_DIR/ntrescue"
  case "$NTRESCUE_URL" in
    s3://*) aws s3 cp --only-show-errors "$NTRESCUE_URL" "$NTRESCUE_BIN" ;;
    https://*) curl -fsSL -o "$NTRESCUE_BIN" "$NTRESCUE_URL" ;;
    *) result error 1 "reason=\"NTRESCUE_URL must be s3:// or https://\"" ;;
  esac
  chmod 755 "$NTRESCUE_BIN"
}

find_device() {
  if [ -n "${DEVICE:-}" ]; then
    return
  fi
  local key="" want=""
  if [ -n "${EBS_VOLUME_ID:-}" ]; then
    key=ebs_volume_id
    want=$EBS_VOLUME_ID
  elif [ -n "${AZURE_LUN:-}" ]; then
    key=azure_lun
    want=$AZURE_LUN
  else
    # Neither: the one disk whose partitions hold Windows (locate skips the
    # disk holding the helper's own /).
    key=windows
    want=1
  fi
  # The disk may take a moment to appear after the attach.
  local i
  for i in $(seq 1 30); do
    "$NTRESCUE_BIN" locate --json > "$WORK_DIR/locate.json" 2>/dev/null || true
    DEVICE=$(python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
disks = d.get("disks", [])
if sys.argv[2] == "windows":
    found = [x for x in disks if any(p.get("windows") for p in x.get("partitions", []))]
    found = found if len(found) == 1 else []
else:
    found = [x for x in disks if str(x.get(sys.argv[2])) == sys.argv[3]]
print(found[0]["path"] if found else "")' "$WORK_DIR/locate.json" "$key" "$want" 2>/dev/null || true)
    if [ -n "$DEVICE" ]; then
      return
    fi
    echo "waiting for the disk with $key $want to appear ($i/30)" >&2
    sleep 2
  done
  result error 1 "reason=\"no disk with $key $want (or several holding Windows: give DEVICE)\""
}

run() {
  # run NAME ARGS...: ntrescue ARGS with its JSON document kept as NAME.json;
  # sets RC.
  local name=$1
  shift
  set +e
  "$NTRESCUE_BIN" "$@" > "$WORK_DIR/$name.json"
  RC=$?
  set -e
  echo "ntrescue $*: exit $RC" >&2
}

fetch_binary
find_device
echo "ntrescue-flow: $("$NTRESCUE_BIN" --version) on $DEVICE" >&2

# 1. detect
run detect diagnose "$DEVICE" --json
[ "$RC" = 0 ] || result error 1 "stage=detect exit=$RC reason=\"$(json_field "$WORK_DIR/detect.json" error.message)\""
before=$(json_field "$WORK_DIR/detect.json" verdict.blockers)
if [ "$before" = 0 ]; then
  result nothing-to-do 0 "blockers=0"
fi

# 2. fix
read -r -a fix_words <<< "$FIX"
read -r -a fix_args <<< "$FIX_ARGS"
run fix "${fix_words[@]}" "$DEVICE" "${fix_args[@]}" --backup-dir "$BACKUP_DIR" --json
bundle=$(json_field "$WORK_DIR/fix.json" backup)
case "$RC" in
  0) ;;
  3) result refused 3 "stage=fix reason=\"$(json_field "$WORK_DIR/fix.json" error.message)\"" ;;
  *) result error 1 "stage=fix exit=$RC bundle=${bundle:-none} reason=\"$(json_field "$WORK_DIR/fix.json" error.message)\"" ;;
esac
if [ -n "${BUNDLE_S3_URI:-}" ] && [ -n "$bundle" ]; then
  tarball="$WORK_DIR/$(basename "$bundle").tar"
  "$NTRESCUE_BIN" backups pack "$bundle" --tar "$tarball" > /dev/null
  aws s3 cp --only-show-errors "$tarball" "${BUNDLE_S3_URI%/}/$(basename "$tarball")"
fi

# 3. verify
run verify diagnose "$DEVICE" --json
[ "$RC" = 0 ] || result error 1 "stage=verify exit=$RC bundle=${bundle:-none}"
after=$(json_field "$WORK_DIR/verify.json" verdict.blockers)
if [ "$after" = 0 ]; then
  result fixed 0 "blockers_before=$before blockers_after=0 bundle=${bundle:-none}"
fi
result partial 4 "blockers_before=$before blockers_after=$after bundle=${bundle:-none} left=\"$(json_field "$WORK_DIR/verify.json" verdict.blocker_codes)\""
