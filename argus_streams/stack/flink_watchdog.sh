#!/usr/bin/env bash
# Restarts this stack's TaskManager when it dies, as Kubernetes restarts a TaskManager pod: PyFlink 2.2.1
# can take the TaskManager down while it cancels a Python job ("Reference count must not be negative").
# Started and stopped by argus_streams/stack/flink.py, with the environment of flink_env().
set -u
pidfile="$FLINK_PID_DIR/flink-$FLINK_IDENT_STRING-taskexecutor.pid"
while true; do
  sleep 3
  alive=0
  for pid in $(cat "$pidfile" 2>/dev/null); do
    kill -0 "$pid" 2>/dev/null && alive=1
  done
  if [ "$alive" = 0 ]; then
    echo "$(date -Is) flink-watchdog: the TaskManager is down, restarting it"
    rm -f "$pidfile"
    "$FLINK_HOME/bin/taskmanager.sh" start
  fi
done
