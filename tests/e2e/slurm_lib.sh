# A real Slurm on this machine for the tests (sourced after lib.sh): munged, slurmctld and slurmd
# on 127.0.0.1 with their state under $work/slurm, stopped by PID when the test exits. Exports
# SLURM_CONF so sbatch, squeue, scontrol and scancel talk to it.
slurm_root=$work/slurm
slurm_pids=()

stop_slurm() {
  local pid
  for pid in "${slurm_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${slurm_pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  rm -rf "$work"
}
trap stop_slurm EXIT

# pid_from FILE: waits for a daemon's PID file.
pid_from() {
  for _ in $(seq 100); do [ -s "$1" ] && { cat "$1"; return; }; sleep 0.1; done
  fail "no PID file $1"
}

start_slurm() {
  for tool in munged slurmctld slurmd sbatch scontrol; do
    command -v "$tool" > /dev/null || fail "$tool missing: scripts/install-deps.sh installs slurm-wlm and munge"
  done
  local host cpus memory
  host=$(hostname -s)
  cpus=$(nproc)
  memory=$(awk '/MemTotal/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)
  mkdir -p "$slurm_root"/{munge,state,spool,log}
  # munged refuses a socket path others cannot enter, and a key others can read.
  chmod 755 "$work" "$slurm_root" "$slurm_root/munge"
  install -m 400 /etc/munge/munge.key "$slurm_root/munge/munge.key"
  munged --key-file="$slurm_root/munge/munge.key" --socket="$slurm_root/munge/munge.socket" \
    --pid-file="$slurm_root/munge/munged.pid" --log-file="$slurm_root/munge/munged.log" \
    --seed-file="$slurm_root/munge/munged.seed"
  slurm_pids+=("$(pid_from "$slurm_root/munge/munged.pid")")
  cp /etc/slurm/plugstack.conf "$slurm_root/"
  # cred_expire: Slurm holds a requeued job back until the killed attempt's credential has expired
  # (120 s by default; started earlier, slurmd refuses it as revoked). 20 s keeps the requeue test
  # short and still outlasts a step's launch here.
  cat > "$slurm_root/slurm.conf" <<CONF
ClusterName=vlmtest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=${VLM_SLURMCTLD_PORT:-6817}
SlurmdPort=${VLM_SLURMD_PORT:-6818}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$slurm_root/munge/munge.socket,cred_expire=20
StateSaveLocation=$slurm_root/state
SlurmdSpoolDir=$slurm_root/spool
SlurmctldPidFile=$slurm_root/slurmctld.pid
SlurmdPidFile=$slurm_root/slurmd.pid
SlurmctldLogFile=$slurm_root/log/slurmctld.log
SlurmdLogFile=$slurm_root/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$slurm_root/slurm.conf
  slurmctld -f "$SLURM_CONF"
  slurm_pids+=("$(pid_from "$slurm_root/slurmctld.pid")")
  slurmd -f "$SLURM_CONF"
  slurm_pids+=("$(pid_from "$slurm_root/slurmd.pid")")
  for _ in $(seq 100); do
    sinfo -h -o %T 2>/dev/null | grep -q idle && return
    sleep 0.2
  done
  tail -n 20 "$slurm_root"/log/*.log
  fail "the local Slurm did not come up"
}

# job_field JOB FIELD: a field of `scontrol show job` (JobState, Restarts, ExitCode, ...).
job_field() {
  scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | awk -F= -v f="$2" '$1 == f { print $2; exit }'
}
