#!/usr/bin/env bash
# Restarts this stack's TaskManager when it dies, as Kubernetes restarts a TaskManager pod: PyFlink 2.2.1
# can take the TaskManager down while it cancels a Python job ("Reference count must not be negative").
# Started and stopped by dev/argus_dev/stack/flink.py, with the environment of flink_env().
set -u
pidfile="$FLINK_PID_DIR/flink-$FLINK_IDENT_STRING-taskexecutor.pid"

# The Python workers of a TaskManager that died are orphans (parent pid 1) that never exit on their own; in
# a pod they would die with it. Ours are those whose environment names this stack's conf folder.
kill_orphaned_workers() {
  for pid in $(pgrep -f 'pyflink-udf-runner.sh|pyflink.fn_execution.beam.beam_boot'); do
    [ "$(ps -o ppid= -p "$pid" 2>/dev/null | tr -d ' ')" = 1 ] || continue
    tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "FLINK_CONF_DIR=$FLINK_CONF_DIR" || continue
    pkill -9 -P "$pid" 2>/dev/null
    kill -9 "$pid" 2>/dev/null && echo "$(date -Is) flink-watchdog: killed orphaned Python worker $pid"
  done
}
while true; do
  sleep 3
  alive=0
  for pid in $(cat "$pidfile" 2>/dev/null); do
    kill -0 "$pid" 2>/dev/null && alive=1
  done
  if [ "$alive" = 0 ]; then
    echo "$(date -Is) flink-watchdog: the TaskManager is down, restarting it"
    kill_orphaned_workers
    rm -f "$pidfile"
    "$FLINK_HOME/bin/taskmanager.sh" start
  fi
done
