#!/usr/bin/python3
"""unitrun.py - run a systemd unit's ExecStart under the unit's own
sandboxing, on a machine where systemd is not PID 1 (a container, a CI VM,
this test machine): the directives of conf/crosstalk-*.service applied the
way systemd applies them, so that a hardening line that kills or cripples
a daemon is found by a test and not by a user.

    unitrun.py [--replace FROM=TO]... [--exec CMD] [--no-syscall-filter]
               [--strace FILE] UNIT.service [ARG...]

Runs as root, then becomes the daemon (exec): its pid is the daemon's.
--replace rewrites ExecStart (binary and config paths of a test install);
--exec runs CMD instead of it, in the same sandbox (a probe); extra ARGs
are appended. --strace FILE runs the daemon under strace -f
(syscall filter off: strace records what would have been filtered).

What it does, directive by directive (each one a unit file names must be
known here: an unknown directive is an error, so a new hardening line
cannot slip past the test unapplied):
  User, Group, SupplementaryGroups, UMask, LimitNOFILE    as systemd
  RuntimeDirectory(+Mode)     /run/DIR owned by User:Group, writable inside
  ProtectSystem=strict        every mount read-only but /dev /proc /sys
  ProtectHome=yes             /home /root /run/user empty and inaccessible
  PrivateTmp=yes              fresh /tmp and /var/tmp
  PrivateDevices=yes          a /dev of null zero full random urandom tty
  ProtectKernelTunables       /proc/sys, /sys read-only
  ProtectKernelModules/Logs   module dirs, /proc/kmsg inaccessible (+ filter)
  ProtectControlGroups        /sys/fs/cgroup read-only
  ProtectClock, ProtectHostname  the syscalls (@clock, sethostname: filter),
                              a UTS namespace of its own
  ProtectProc, ProcSubset     a /proc mounted hidepid=invisible,subset=pid
  NoNewPrivileges             PR_SET_NO_NEW_PRIVS
  CapabilityBoundingSet=, AmbientCapabilities=   all capabilities dropped
  RestrictAddressFamilies     socket() of another family: EAFNOSUPPORT
  RestrictNamespaces=yes      unshare/setns/clone of a namespace: EPERM
  RestrictRealtime            realtime scheduling: EPERM
  RestrictSUIDSGID            chmod to setuid/setgid: EPERM
  LockPersonality             personality() changes: EPERM
  MemoryDenyWriteExecute      writable+executable mappings: EPERM
  SystemCallArchitectures=native, SystemCallFilter   seccomp, as systemd
                              builds it from its groups (systemd-analyze
                              syscall-filter, or the systemd 252 snapshot in
                              data/): anything else kills the process (SIGSYS)
Seccomp comes from libseccomp (Debian's libseccomp2, which apt needs).
"""
import ctypes
import ctypes.util
import errno
import os
import pwd
import grp
import re
import resource
import shlex
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SNAPSHOT = os.path.join(HERE, "data", "syscall-filter-252.txt")

# directives this file applies, or that mean nothing outside systemd
KNOWN = {
    "Type", "User", "Group", "SupplementaryGroups", "ExecStart", "ExecReload",
    "Restart", "RestartSec", "TimeoutStopSec", "RuntimeDirectory",
    "RuntimeDirectoryMode", "UMask", "LimitNOFILE", "NoNewPrivileges",
    "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
    "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
    "ProtectControlGroups", "ProtectClock", "ProtectHostname", "ProtectProc",
    "ProcSubset", "RestrictAddressFamilies", "RestrictNamespaces",
    "RestrictRealtime", "RestrictSUIDSGID", "LockPersonality",
    "MemoryDenyWriteExecute", "RemoveIPC", "SystemCallArchitectures",
    "SystemCallFilter", "CapabilityBoundingSet", "AmbientCapabilities",
    "Environment",
}

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                       ctypes.c_ulong, ctypes.c_char_p]
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 32, 4096, 8192, 16384, 1 << 18
CLONE_NEWNS, CLONE_NEWUTS = 0x00020000, 0x04000000
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4


def fail(msg):
    sys.stderr.write("unitrun: %s\n" % msg)
    sys.exit(2)


def parse_unit(path):
    """[Service] as (key, value) pairs, in order (keys may repeat)."""
    out, section = [], None
    for line in open(path):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        m = re.match(r"^\[(\w+)\]$", line)
        if m:
            section = m.group(1)
        elif section == "Service" and "=" in line:
            k, v = line.split("=", 1)
            out.append((k.strip(), v.strip()))
    return out


def service(path):
    pairs = parse_unit(path)
    unknown = sorted({k for k, _ in pairs} - KNOWN)
    if unknown:
        fail("%s: directives not emulated here: %s" % (path, ", ".join(unknown)))
    last = {}
    for k, v in pairs:
        last[k] = v
    return pairs, last


# --- systemd's syscall groups ------------------------------------------------

def syscall_groups():
    """{"@name": [members]} as systemd-analyze prints them (members may be
    groups). The machine's systemd when it has one, else the snapshot."""
    text = None
    if shutil.which("systemd-analyze"):
        r = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True)
        if r.returncode == 0 and "@system-service" in r.stdout:
            text = r.stdout
    if text is None:
        text = open(SNAPSHOT).read()
    groups, cur = {}, None
    for line in text.splitlines():
        if line.startswith("@"):
            cur = line.split()[0]
            groups[cur] = []
        elif cur and line.startswith("    ") and not line.strip().startswith("#"):
            groups[cur].append(line.strip())
        elif not line.strip():
            cur = None
    return groups


def expand(groups, name, seen=None):
    seen = set() if seen is None else seen
    if not name.startswith("@"):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    if name not in groups:
        fail("unknown syscall group %s" % name)
    out = set()
    for m in groups[name]:
        out |= expand(groups, m, seen)
    return out


def allowed_syscalls(pairs):
    """The allow-list SystemCallFilter= lines build, as systemd reads them:
    the first line without ~ starts an allow-list, ~ lines take away."""
    groups = syscall_groups()
    allow = None
    for k, v in pairs:
        if k != "SystemCallFilter":
            continue
        neg = v.startswith("~")
        names = set()
        for item in v.lstrip("~").split():
            names |= expand(groups, item)
        if allow is None:
            if neg:
                fail("a deny-list SystemCallFilter is not emulated")
            allow = names
        elif neg:
            allow -= names
        else:
            allow |= names
    return allow


# --- libseccomp ------------------------------------------------------------------

class ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


CMP_NE, CMP_EQ, CMP_MASKED_EQ = 1, 4, 7
ACT_KILL_PROCESS, ACT_ALLOW = 0x80000000, 0x7fff0000


def ACT_ERRNO(e):
    return 0x00050000 | (e & 0xffff)


class Seccomp:
    def __init__(self):
        name = ctypes.util.find_library("seccomp")
        if not name:
            fail("libseccomp not found (Debian: libseccomp2)")
        self.lib = ctypes.CDLL(name, use_errno=True)
        self.lib.seccomp_init.restype = ctypes.c_void_p
        self.lib.seccomp_init.argtypes = [ctypes.c_uint32]
        self.lib.seccomp_rule_add_array.argtypes = [
            ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(ArgCmp)]
        self.lib.seccomp_load.argtypes = [ctypes.c_void_p]
        self.lib.seccomp_release.argtypes = [ctypes.c_void_p]
        self.lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]

    def nr(self, name):
        return self.lib.seccomp_syscall_resolve_name(name.encode())

    def filter(self, default, rules):
        """rules: (action, syscall name, [(arg, op, a, b)...]); loaded at once."""
        ctx = self.lib.seccomp_init(default)
        if not ctx:
            fail("seccomp_init failed")
        for action, name, conds in rules:
            n = self.nr(name)
            if n < 0:
                continue  # not a syscall of this architecture
            arr = (ArgCmp * max(1, len(conds)))(*[ArgCmp(*c) for c in conds])
            rc = self.lib.seccomp_rule_add_array(ctx, action, n, len(conds), arr)
            if rc < 0:
                fail("seccomp rule for %s: %s" % (name, os.strerror(-rc)))
        rc = self.lib.seccomp_load(ctx)
        self.lib.seccomp_release(ctx)
        if rc < 0:
            fail("seccomp_load: %s" % os.strerror(-rc))


AF = {"AF_UNIX": 1, "AF_LOCAL": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16, "AF_PACKET": 17}
CLONE_NS_FLAGS = [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000,
                  0x20000000, 0x40000000, 0x00000080]  # NEWNS CGROUP UTS IPC USER PID NET TIME


def seccomp_filters(last, pairs, syscall_filter=True):
    sc = Seccomp()
    yes = lambda k: last.get(k, "no") in ("yes", "true", "1")  # noqa: E731
    if "RestrictAddressFamilies" in last:
        keep = {AF[a] for a in last["RestrictAddressFamilies"].split()}
        sc.filter(ACT_ALLOW, [(ACT_ERRNO(errno.EAFNOSUPPORT), "socket", [(0, CMP_EQ, f, 0)])
                              for f in range(0, 46) if f not in keep])
    if yes("RestrictNamespaces"):
        rules = [(ACT_ERRNO(errno.EPERM), "setns", []), (ACT_ERRNO(errno.ENOSYS), "clone3", [])]
        for f in CLONE_NS_FLAGS:
            rules.append((ACT_ERRNO(errno.EPERM), "unshare", [(0, CMP_MASKED_EQ, f, f)]))
            rules.append((ACT_ERRNO(errno.EPERM), "clone", [(0, CMP_MASKED_EQ, f, f)]))
        sc.filter(ACT_ALLOW, rules)
    if yes("RestrictRealtime"):
        sc.filter(ACT_ALLOW, [(ACT_ERRNO(errno.EPERM), "sched_setscheduler", [(1, CMP_EQ, p, 0)])
                              for p in (1, 2, 6)])  # FIFO RR DEADLINE
    if yes("RestrictSUIDSGID"):
        rules = []
        for call, arg in (("chmod", 1), ("fchmod", 1), ("fchmodat", 2)):
            for bit in (0o4000, 0o2000):
                rules.append((ACT_ERRNO(errno.EPERM), call, [(arg, CMP_MASKED_EQ, bit, bit)]))
        sc.filter(ACT_ALLOW, rules)
    if yes("LockPersonality"):
        # as systemd: any personality but the current one (PER_LINUX)
        sc.filter(ACT_ALLOW, [(ACT_ERRNO(errno.EPERM), "personality", [(0, CMP_NE, 0, 0)])])
    if yes("MemoryDenyWriteExecute"):
        W, X = 2, 4  # PROT_WRITE PROT_EXEC
        sc.filter(ACT_ALLOW, [
            (ACT_ERRNO(errno.EPERM), "mmap", [(2, CMP_MASKED_EQ, W | X, W | X)]),
            (ACT_ERRNO(errno.EPERM), "mprotect", [(2, CMP_MASKED_EQ, X, X)]),
            (ACT_ERRNO(errno.EPERM), "pkey_mprotect", [(2, CMP_MASKED_EQ, X, X)]),
            (ACT_ERRNO(errno.EPERM), "shmat", [(2, CMP_MASKED_EQ, 0o100000, 0o100000)]),
        ])
    if syscall_filter:
        allow = allowed_syscalls(pairs)
        if allow is not None:
            # last: after it, this process only execs the daemon
            sc.filter(ACT_KILL_PROCESS, [(ACT_ALLOW, n, []) for n in sorted(allow)])


# --- mounts --------------------------------------------------------------------

def mount(src, dst, fstype, flags, data=None):
    if libc.mount(src and src.encode(), dst.encode(), fstype and fstype.encode(), flags,
                  data and data.encode()) != 0:
        e = ctypes.get_errno()
        fail("mount %s on %s: %s" % (src or fstype, dst, os.strerror(e)))


def mountpoints():
    out = []
    for line in open("/proc/self/mountinfo"):
        mp = line.split()[4].replace("\\040", " ")
        out.append(mp)
    return out


def readonly(path, rec=True):
    """Bind path onto itself and make that (and every mount below) read-only."""
    if not os.path.exists(path):
        return
    mount(path, path, None, MS_BIND | MS_REC)
    for mp in mountpoints():
        if mp == path or (rec and mp.startswith(path.rstrip("/") + "/")):
            libc.mount(None, mp.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)


def inaccessible(path):
    if os.path.isdir(path):
        mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=000")
    elif os.path.exists(path):
        mount("/dev/null", path, None, MS_BIND)


def private_dev():
    stage = "/tmp/.unitrun-dev"
    os.makedirs(stage, exist_ok=True)
    mount("tmpfs", stage, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755")
    for n in ("null", "zero", "full", "random", "urandom", "tty"):
        open(os.path.join(stage, n), "w").close()
        mount("/dev/" + n, os.path.join(stage, n), None, MS_BIND)
    for d in ("pts", "shm"):
        os.makedirs(os.path.join(stage, d))
    mount("/dev/pts", os.path.join(stage, "pts"), None, MS_BIND)
    mount("tmpfs", os.path.join(stage, "shm"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
                         ("ptmx", "pts/ptmx")):
        os.symlink(target, os.path.join(stage, name))
    mount(stage, "/dev", None, MS_MOVE)


def sandbox(last, runtime_dir):
    yes = lambda k: last.get(k, "no") in ("yes", "true", "1", "strict", "full", "invisible", "pid")  # noqa: E731
    flags = CLONE_NEWNS | (CLONE_NEWUTS if yes("ProtectHostname") else 0)
    if libc.unshare(flags) != 0:
        fail("unshare: %s" % os.strerror(ctypes.get_errno()))
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    if yes("PrivateTmp"):
        for d in ("/tmp", "/var/tmp"):
            mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    if yes("PrivateDevices"):
        private_dev()
    if last.get("ProtectProc") == "invisible" or last.get("ProcSubset") == "pid":
        opts = []
        if last.get("ProtectProc") == "invisible":
            opts.append("hidepid=invisible")
        if last.get("ProcSubset") == "pid":
            opts.append("subset=pid")
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, ",".join(opts))
    if last.get("ProtectSystem") == "strict":
        for mp in sorted(set(mountpoints()), key=len):
            if mp == "/dev" or mp.startswith(("/dev/", "/proc", "/sys")) or mp in ("/tmp", "/var/tmp"):
                continue
            libc.mount(None, mp.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)
    elif last.get("ProtectSystem"):
        fail("ProtectSystem=%s is not emulated" % last["ProtectSystem"])
    if yes("ProtectKernelTunables"):
        for p in ("/proc/sys", "/proc/sysrq-trigger", "/sys"):
            readonly(p)
    if yes("ProtectControlGroups"):
        readonly("/sys/fs/cgroup")
    if yes("ProtectKernelModules"):
        for p in ("/usr/lib/modules", "/lib/modules"):
            if os.path.isdir(p) and not os.path.islink(p):
                inaccessible(p)
    if yes("ProtectKernelLogs"):
        inaccessible("/proc/kmsg")
    if yes("ProtectHome"):
        for p in ("/home", "/root", "/run/user"):
            inaccessible(p)
    if runtime_dir:
        # the one place it may write
        mount(runtime_dir, runtime_dir, None, MS_BIND)
        libc.mount(None, runtime_dir.encode(), None, MS_REMOUNT | MS_BIND, None)


def main():
    args = sys.argv[1:]
    replace, syscall_filter, trace, override = [], True, None, None
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--replace":
            replace.append(args.pop(0).split("=", 1))
        elif opt == "--exec":
            override = args.pop(0)
        elif opt == "--no-syscall-filter":
            syscall_filter = False
        elif opt == "--strace":
            trace, syscall_filter = args.pop(0), False
        else:
            fail("unknown option " + opt)
    if not args:
        fail("usage: unitrun.py [--replace FROM=TO]... [--exec CMD] [--no-syscall-filter] "
             "[--strace FILE] UNIT [ARG...]")
    if os.getuid() != 0:
        fail("needs root (it sets up what systemd would)")
    unit, extra = args[0], args[1:]
    pairs, last = service(unit)
    cmd = override or last["ExecStart"]
    for a, b in replace:
        cmd = cmd.replace(a, b)
    argv = shlex.split(cmd) + extra
    user = pwd.getpwnam(last.get("User", "root"))
    gid = grp.getgrnam(last["Group"]).gr_gid if "Group" in last else user.pw_gid
    groups = [gid] + [grp.getgrnam(g).gr_gid for g in last.get("SupplementaryGroups", "").split()]

    trace_fd = None
    runtime_dir = None
    if last.get("RuntimeDirectory"):
        runtime_dir = "/run/" + last["RuntimeDirectory"]
        os.makedirs(runtime_dir, exist_ok=True)
        os.chown(runtime_dir, user.pw_uid, gid)
        os.chmod(runtime_dir, int(last.get("RuntimeDirectoryMode", "0755"), 8))

    if trace:
        # opened on the real file system, before the sandbox hides it; fd 3 inside
        trace_fd = os.open(trace, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.fchown(trace_fd, user.pw_uid, gid)  # strace, as the unit's user, reopens it
        os.dup2(trace_fd, 3)
        os.set_inheritable(3, True)
    sandbox(last, runtime_dir)
    if "LimitNOFILE" in last:
        n = int(last["LimitNOFILE"])
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard != resource.RLIM_INFINITY and n > hard:
            # raising it needs CAP_SYS_RESOURCE, which systemd has and a container may not
            sys.stderr.write("unitrun: LimitNOFILE=%d above this machine's hard limit %d: using %d\n"
                             % (n, hard, hard))
            n = hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    os.umask(int(last.get("UMask", "0022"), 8))
    if trace:
        argv = [shutil.which("strace") or fail("no strace"), "-f", "-qq", "-o", "/dev/fd/3", "--"] + argv
    if "CapabilityBoundingSet" in last and not last["CapabilityBoundingSet"]:
        cap = 0
        while libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:
            cap += 1
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    os.setgroups(groups)
    os.setgid(gid)
    os.setuid(user.pw_uid)
    if last.get("NoNewPrivileges") == "yes" and libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        fail("PR_SET_NO_NEW_PRIVS failed")
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "LANG": "C.UTF-8", "HOME": user.pw_dir, "USER": user.pw_name, "LOGNAME": user.pw_name}
    for e in (v for k, v in pairs if k == "Environment"):
        k, _, v = e.partition("=")
        env[k] = v
    seccomp_filters(last, pairs, syscall_filter)
    os.execve(argv[0], argv, env)


if __name__ == "__main__":
    main()
