# A real systemd as PID 1 of a throwaway container, on a machine whose own PID 1 need not be systemd.
# Sourced by scripts/system-test.sh. The root is an overlay: the host's own root, read-only, below a tmpfs,
# so nothing is downloaded and nothing inside touches the host's files. Every boot starts clean.
#
#   ct_prepare NAME       mount the overlay at $CT_ROOT (then edit files under it before booting)
#   ct_boot               boot systemd in it; returns when the system is running
#   ct NAME... / ct_sh    run a command inside (nsenter; in no unit: wrap it in systemd-run when that matters)
#   ct_teardown           power off, unmount, remove cgroups; checks that nothing is left
#
# Set before sourcing: nothing. Exports: CT_NAME, CT_DIR, CT_ROOT, CT_PID1.

CT_NAME='' CT_DIR='' CT_ROOT='' CT_PID1='' CT_PIDNS='' CT_NSPAWN='' CT_CGROUPS=()
CT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

ct_log() { printf '   [container] %s\n' "$*" >&2; }

ct_prepare() { # name
    CT_NAME=$1
    CT_DIR=$(mktemp -d "/tmp/$CT_NAME.XXXXXX")
    mount -t tmpfs -o mode=0755,size=2g "$CT_NAME" "$CT_DIR"
    mkdir -p "$CT_DIR/upper" "$CT_DIR/work" "$CT_DIR/root"
    # lowerdir=/ shows the root file system only (other mounts such as /proc or /tmp appear as empty dirs).
    mount -t overlay -o "lowerdir=/,upperdir=$CT_DIR/upper,workdir=$CT_DIR/work" "$CT_NAME-root" "$CT_DIR/root"
    CT_ROOT=$CT_DIR/root
    # Docker's policy-rc.d refuses every service action: maintainer scripts would silently skip start/stop.
    rm -f "$CT_ROOT/usr/sbin/policy-rc.d"
    # A fresh machine id per boot (systemd writes one), and no host-only state.
    : >"$CT_ROOT/etc/machine-id"
    rm -rf "$CT_ROOT/var/log/journal" "$CT_ROOT/run"
    mkdir -p "$CT_ROOT/run"
    # Packages installed inside need no man-db index (its trigger takes half a minute on loaded cores).
    rm -f "$CT_ROOT/var/lib/man-db/auto-update"
    # Only what the test needs starts inside: every unit the host enabled is masked, but nginx.
    local link unit
    for link in "$CT_ROOT"/etc/systemd/system/*.wants/* "$CT_ROOT"/etc/systemd/system/*.requires/*; do
        [ -e "$link" ] || [ -L "$link" ] || continue
        unit=${link##*/}
        case "$unit" in nginx.service|*.target) continue ;; esac
        ln -sfn /dev/null "$CT_ROOT/etc/systemd/system/$unit"
    done
    # Units that need hardware or a console a container has not.
    for unit in getty@.service console-getty.service systemd-timesyncd.service apt-daily.timer \
                apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer man-db.timer \
                logrotate.timer dpkg-db-backup.timer cron.service ssh.service docker.service containerd.service; do
        ln -sfn /dev/null "$CT_ROOT/etc/systemd/system/$unit"
    done
}

# Moves this shell into a fresh cgroup below its current one in every writable hierarchy, so that nspawn
# makes its supervisor/payload groups there and teardown can remove them.
ct_enter_cgroups() {
    local line hierarchy path dir
    while IFS= read -r line; do
        hierarchy=${line#*:}; hierarchy=${hierarchy%%:*}; path=${line#*:*:}
        case "$hierarchy" in
            '') dir=/sys/fs/cgroup/unified$path ;;
            name=*) dir=/sys/fs/cgroup/${hierarchy#name=}$path ;;
            *) dir=/sys/fs/cgroup/${hierarchy%%,*}$path ;;
        esac
        [ -d "$dir" ] || continue
        dir=${dir%/}/$CT_NAME
        mkdir "$dir" 2>/dev/null || continue
        if [ "$hierarchy" = cpuset ]; then
            cat "${dir%/*}/cpuset.cpus" >"$dir/cpuset.cpus" 2>/dev/null
            cat "${dir%/*}/cpuset.mems" >"$dir/cpuset.mems" 2>/dev/null
        fi
        if echo "$BASHPID" >"$dir/cgroup.procs" 2>/dev/null; then CT_CGROUPS+=("$dir"); else rmdir "$dir"; fi
    done </proc/self/cgroup
}

ct_boot() { # extra kernel-command-line words for systemd...
    local started=$SECONDS
    (
        # A subshell of its own moves into the new cgroups: the test's shell stays where it is.
        CT_CGROUPS=()
        ct_enter_cgroups
        printf '%s\n' "${CT_CGROUPS[@]}" >"$CT_DIR/cgroups"
        exec setsid systemd-nspawn --quiet --directory="$CT_ROOT" --machine="$CT_NAME" --boot --register=no \
            --keep-unit --console=read-only --private-network -- "$@" \
            </dev/null >"$CT_DIR/console.log" 2>&1
    ) &
    CT_NSPAWN=$!
    local pid
    for _ in $(seq 300); do
        for pid in $(cat "/proc/$CT_NSPAWN/task/"*/children 2>/dev/null); do
            if grep -Eq '^NSpid:.*[[:space:]]1$' "/proc/$pid/status" 2>/dev/null; then CT_PID1=$pid; break 2; fi
        done
        kill -0 "$CT_NSPAWN" 2>/dev/null || break
        sleep 0.1
    done
    mapfile -t CT_CGROUPS <"$CT_DIR/cgroups" 2>/dev/null || true
    [ -n "$CT_PID1" ] || { cat "$CT_DIR/console.log" >&2; ct_log "nspawn did not start a PID 1"; return 1; }
    CT_PIDNS=$(readlink "/proc/$CT_PID1/ns/pid")
    # Until PID 1 has exec'd systemd and opened its bus, systemctl answers "offline" at once.
    local state=''
    for _ in $(seq 600); do
        state=$(timeout 60 nsenter --target "$CT_PID1" --mount --uts --ipc --net --pid --cgroup --root --wd -- \
            env -i PATH="$CT_PATH" systemctl is-system-running --wait 2>/dev/null) || true
        case "$state" in running|degraded|maintenance|stopping) break ;; esac
        sleep 0.1
    done
    ct_log "booted $CT_NAME (PID 1 is host pid $CT_PID1) in $((SECONDS - started)) s: $state"
    case "$state" in running) ;; degraded)
        ct systemctl --failed --no-legend >&2 || true ;;
    *) return 1 ;; esac
}

ct() { nsenter --target "$CT_PID1" --mount --uts --ipc --net --pid --cgroup --root --wd -- env -i PATH="$CT_PATH" "$@"; }
ct_sh() { ct /bin/bash -c "$*"; }

# The container's processes, as host pids (everything in PID 1's pid namespace).
ct_pids() {
    [ -n "$CT_PIDNS" ] || return 0
    local pid
    for pid in /proc/[0-9]*; do
        [ "$(readlink "$pid/ns/pid" 2>/dev/null)" = "$CT_PIDNS" ] && echo "${pid#/proc/}"
    done
    return 0
}

ct_teardown() {
    set +e
    [ -n "$CT_DIR" ] || return 0
    if [ -n "$CT_NSPAWN" ] && kill -0 "$CT_NSPAWN" 2>/dev/null; then
        kill -TERM "$CT_NSPAWN"
        for _ in $(seq 100); do kill -0 "$CT_NSPAWN" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$CT_NSPAWN" 2>/dev/null; then
            ct_log "poweroff took over 10 s: SIGKILL to the container's PID 1"
            [ -n "$CT_PID1" ] && kill -KILL "$CT_PID1"
            for _ in $(seq 50); do kill -0 "$CT_NSPAWN" 2>/dev/null || break; sleep 0.1; done
        fi
        wait "$CT_NSPAWN" 2>/dev/null
    fi
    local left problems=0
    left=$(ct_pids | wc -l)
    [ "$left" = 0 ] || { ct_log "WARNING: $left processes left in the container's pid namespace"; problems=1; }
    umount "$CT_DIR/root" 2>/dev/null || umount -l "$CT_DIR/root"
    umount "$CT_DIR" 2>/dev/null || umount -l "$CT_DIR"
    rmdir "$CT_DIR"
    # Deepest first: nspawn's own supervisor/payload groups, then ours.
    local dir sub
    for dir in "${CT_CGROUPS[@]}"; do
        [ -d "$dir" ] || continue
        find "$dir" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null
        rmdir "$dir" 2>/dev/null || { ct_log "WARNING: cgroup $dir not removed"; problems=1; }
    done
    for sub in /run/systemd/nspawn/*; do [ -d "$sub" ] && rmdir "$sub" 2>/dev/null; done
    rmdir /run/systemd/nspawn 2>/dev/null
    if grep -q "$CT_DIR" /proc/mounts; then ct_log "WARNING: mounts left under $CT_DIR"; problems=1; fi
    CT_DIR='' CT_PID1='' CT_PIDNS='' CT_NSPAWN=''
    return "$problems"
}
