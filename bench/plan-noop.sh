#!/usr/bin/env bash
# Benchmark: re-planning a release that is already in its bucket, against a peer tool.
#
# Creates many small files (100,000 files of 100 random bytes in 100 folders by default)
# under target/bench/plan/, puts every one in a bucket of a local S3 server with its
# CRC64NVME, and plans once to warm release's caches. Then, in the same run and against the
# same files, bucket and server, it times
#   (a) `release plan --detailed-exitcode`          (must exit 0: nothing to do), and
#   (b) `aws s3 sync --dryrun` of the same folder   (must list nothing to copy),
# alternately, BENCH_RUNS times each, and reports the median wall time and CPU time (user +
# system) of each, their ratios, and peak resident memory, all from GNU time. Wall time
# includes the server's work, which both tools wait on alike; CPU time is the tool's own.
#
# The two tools do not do the same work: `aws s3 sync` compares size and modification time;
# release compares content checksums, reading the stored ones with HEAD requests unless its
# checksum cache already knows the object's ETag from the listing.
#
#   bench/plan-noop.sh      run it. Settings, from the environment:
#     BENCH_FILES, BENCH_FOLDERS, BENCH_SIZE, BENCH_RUNS   (default 100000, 100, 100, 3)
#     BENCH_S3=garage       the S3 server (default): Garage, from bench/garage (built with
#                           `cargo install` on first use, about 15 minutes). It lists ETags from an
#                           index and answers on several threads, so the run measures the
#                           tools more than the server.
#     BENCH_S3=moto         moto lists ETags too, but each page costs it time that grows with
#                           the bucket (about 0.9 s a page at 100,000 objects on 2 cores), so
#                           both tools mostly wait on moto's listing.
#     BENCH_S3=local-s3     the testkit's s3s-fs server. It lists no ETags, so release HEADs
#                           every object on every run, and each listed page walks the whole
#                           bucket on disk, so listing grows with the square of the object
#                           count: keep BENCH_FILES at 20000 or below.
#
# moto and local-s3 come from scripts/local-aws, Garage from bench/garage; moto answers STS
# for release whichever server holds the bucket. Servers that
# already run are reused and left running; servers this script started it stops. Files and
# seeded objects are kept for the next run (bucket `release-bench-COUNT`, prefix
# `plan-noop/`); the files are made again when their count or size changes, and the bucket
# is seeded again when the warm-up plan finds anything to do. local-s3 keeps its buckets on
# disk under target/local-aws/s3 until deleted. This is a measurement, not a test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

readonly files=${BENCH_FILES:-100000}
readonly folders=${BENCH_FOLDERS:-100}
readonly size=${BENCH_SIZE:-100}
readonly runs=${BENCH_RUNS:-3}
readonly server=${BENCH_S3:-garage}
# One bucket per file count, so that a smaller run never lists a larger run's objects.
readonly bucket=release-bench-$files
readonly prefix=plan-noop
readonly work=$root/target/bench/plan
readonly release_dir=$work/release
readonly logs=$work/logs

say() { printf 'bench: %s\n' "$*" >&2; }
die() {
  printf 'bench: error: %s\n' "$*" >&2
  exit 1
}

# GNU time gives wall time and peak memory; install it when missing.
if [[ ! -x /usr/bin/time ]]; then
  say "installing GNU time"
  apt-get install -y time >/dev/null || die "cannot install GNU time (apt-get install -y time)"
fi
command -v aws >/dev/null || die "the AWS CLI is not installed"

# 1. The release folder: files of random bytes, and a manifest sending them to the bucket.
generation="$files files of $size bytes in $folders folders"
if [[ ! -f $work/generation || $(<"$work/generation") != "$generation" ]]; then
  say "creating $generation"
  rm -rf "$release_dir" "$work/generation" "$work/seeded"
  mkdir -p "$release_dir/data"
  python3 - "$release_dir/data" "$files" "$folders" "$size" <<'EOF'
import os, sys
data, files, folders, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for n in range(files):
    folder = os.path.join(data, f"d{n % folders:03d}")
    if n < folders:
        os.mkdir(folder)
    with open(os.path.join(folder, f"f{n:06d}.bin"), "wb") as f:
        f.write(os.urandom(size))
EOF
  echo "$generation" >"$work/generation"
fi
cat >"$release_dir/release.yaml" <<EOF
release: bench-plan-noop
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

# 2. Programs: release as users get it, and the seeding helper.
say "building release (release profile) and seed-s3"
cargo build --quiet --release --bin release
cargo build --quiet -p release-testkit --bin seed-s3
release=$root/target/release/release
seed=$root/target/debug/seed-s3

# 3. The local servers, started unless they already run.
started_servers=0
if ! scripts/local-aws status >/dev/null 2>&1; then
  started_servers=1
fi
scripts/local-aws start >/dev/null
cleanup=()
if ((started_servers)); then
  cleanup+=("scripts/local-aws stop")
fi
eval "$(scripts/local-aws env)"
[[ -n ${RELEASE_TEST_MOTO_ENDPOINT:-} ]] || die "moto is not running; release needs it for STS"
case $server in
  moto) endpoint=$RELEASE_TEST_MOTO_ENDPOINT ;;
  local-s3) endpoint=$RELEASE_TEST_S3_ENDPOINT ;;
  garage)
    bench/garage env >/dev/null 2>&1 || cleanup+=("bench/garage stop")
    eval "$(bench/garage start)"
    endpoint=$BENCH_GARAGE_ENDPOINT
    # moto's STS takes any key, so both tools can sign with Garage's.
    export AWS_ACCESS_KEY_ID=$BENCH_GARAGE_ACCESS_KEY
    export AWS_SECRET_ACCESS_KEY=$BENCH_GARAGE_SECRET_KEY
    ;;
  *) die "BENCH_S3 must be garage, moto or local-s3, not \`$server\`" ;;
esac
stop_servers() {
  local command
  for command in "${cleanup[@]}"; do $command; done
}
trap stop_servers EXIT
export AWS_ENDPOINT_URL_S3=$endpoint AWS_ENDPOINT_URL_STS=$RELEASE_TEST_MOTO_ENDPOINT
export AWS_DEFAULT_REGION=$AWS_REGION NO_COLOR=1
aws_s3() { aws --endpoint-url "$endpoint" --region "$AWS_REGION" "$@"; }
aws_s3 s3api head-bucket --bucket "$bucket" >/dev/null 2>&1 ||
  aws_s3 s3api create-bucket --bucket "$bucket" >/dev/null

# 4. Seed the bucket so that every file is there already, then warm release's caches. A
# warm-up that still finds changes (say the server restarted empty) seeds again.
mkdir -p "$logs"
seeded="$generation on $server at $endpoint"
seed_bucket() {
  say "seeding s3://$bucket/$prefix/ on $server with $files objects"
  "$seed" --endpoint "$endpoint" --bucket "$bucket" --prefix "$prefix" "$release_dir/data"
  echo "$seeded" >"$work/seeded"
}
warm_up() {
  say "warm-up plan (fingerprints files, reads stored checksums)"
  local code=0
  (cd "$release_dir" && "$release" plan --detailed-exitcode >/dev/null 2>"$logs/warm-up.err") ||
    code=$?
  sed 's/^/  /' "$logs/warm-up.err" >&2
  return "$code"
}
if [[ ! -f $work/seeded || $(<"$work/seeded") != "$seeded" ]]; then
  seed_bucket
fi
warm_code=0
warm_up || warm_code=$?
if ((warm_code == 2)); then
  seed_bucket
  warm_code=0
  warm_up || warm_code=$?
fi
((warm_code == 0)) || die "the warm-up plan exited $warm_code; see $logs/warm-up.err"
# The hash cache skips files changed in the two seconds before hashing; make sure the
# measured runs find every file in it.
sleep 2
warm_up || die "the second warm-up plan found changes"

# 5. Measure, alternating the tools so that drift on a shared machine hits both alike.
# Each line of $logs/times: tool, wall seconds, CPU seconds (user + system), peak RSS in KiB,
# exit code.
: >"$logs/times"
timed() {
  local tool=$1 out=$2 code=0
  shift 2
  /usr/bin/time -v -o "$logs/time.txt" "$@" >"$out" 2>"$out.err" || code=$?
  python3 - "$tool" "$code" "$logs/time.txt" >>"$logs/times" <<'EOF'
import sys
tool, code, path = sys.argv[1], sys.argv[2], sys.argv[3]
wall = rss = None
cpu = 0.0
for line in open(path):
    line = line.strip()
    if line.startswith(("User time (seconds)", "System time (seconds)")):
        cpu += float(line.rsplit(" ", 1)[1])
    elif line.startswith("Elapsed (wall clock) time"):
        parts = [float(p) for p in line.rsplit(" ", 1)[1].split(":")]
        wall = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    elif line.startswith("Maximum resident set size"):
        rss = int(line.rsplit(" ", 1)[1])
print(tool, f"{wall:.2f}", f"{cpu:.2f}", rss, code)
EOF
}
say "measuring, $runs runs each; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq "$runs"); do
  (cd "$release_dir" &&
    timed release "$logs/release.$run.out" "$release" plan --detailed-exitcode)
  (cd "$release_dir" &&
    timed aws "$logs/aws.$run.out" aws --endpoint-url "$endpoint" --region "$AWS_REGION" \
      s3 sync data/ "s3://$bucket/$prefix/" --dryrun)
  tail -n 2 "$logs/times" | sed "s/^/  run $run: /" >&2
done
say "release's status lines in the last run:"
sed 's/^/  /' "$logs/release.$runs.out.err" >&2

# 6. Report.
python3 - "$logs" "$runs" "$generation on $server" <<'EOF'
import statistics, sys
logs, runs, generation = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = [line.split() for line in open(f"{logs}/times")]
def of(tool):
    return [(float(w), float(u), int(r), int(c)) for t, w, u, r, c in rows if t == tool]
release, aws = of("release"), of("aws")
bad = [c for *_, c in release + aws if c != 0]
if bad:
    sys.exit(f"bench: error: a measured run failed (exit codes {bad}); see {logs}")
copies = sum(1 for n in range(1, runs + 1) for _ in open(f"{logs}/aws.{n}.out"))
if copies:
    sys.exit(f"bench: error: aws s3 sync --dryrun wanted to copy {copies} files; see {logs}")
def median(runs, field):
    return statistics.median(run[field] for run in runs)
r_wall, a_wall = median(release, 0), median(aws, 0)
r_cpu, a_cpu = median(release, 1), median(aws, 1)
r_rss = max(run[2] for run in release) / 1024
a_rss = max(run[2] for run in aws) / 1024
print(f"no-op plan of {generation}, {runs} runs each")
print("                                     median wall   median CPU    peak RSS")
print(f"  release plan --detailed-exitcode  {r_wall:9.2f} s  {r_cpu:9.2f} s  {r_rss:6.1f} MiB")
print(f"  aws s3 sync --dryrun              {a_wall:9.2f} s  {a_cpu:9.2f} s  {a_rss:6.1f} MiB")
print(f"  ratio release / aws               {r_wall / a_wall:9.2f}    {r_cpu / a_cpu:9.2f}")
print(f"  wall per run, release: {' '.join(f'{run[0]:.2f}' for run in release)}")
print(f"  wall per run, aws:     {' '.join(f'{run[0]:.2f}' for run in aws)}")
print("  release exited 0 (nothing to do) and aws s3 sync listed nothing to copy in every run")
EOF
