package lchroot

import "golang.org/x/sys/unix"

// auditArch is the native ABI as seccomp_data.arch names it.
const auditArch = unix.AUDIT_ARCH_X86_64
