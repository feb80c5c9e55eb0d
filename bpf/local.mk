# bpf/ -- BPF programs attached to probes, and their user-side loader.
#
# bpf/probes.bpf.c -> bpf/probes.bpf.o (clang -target bpf) -> bpf/probes.skel.h
# (bpftool gen skeleton), all in the build directory. vmlinux.h comes from the
# running kernel's BTF when it has one, else from the checked-in bpf/vmlinux.h.
# The user side that loads the skeleton is probe/libprobe.la (probe/local.mk);
# bench-probes includes the skeleton too, for its empty programs.

BPF_GEN = bpf/gen
BPF_CFLAGS = -target bpf -mcpu=v3 -g -O2 -Wall -Werror -Wno-unused-function \
	-I$(BPF_GEN) -I$(srcdir)/bpf -I$(srcdir)

EXTRA_DIST += bpf/probes.bpf.c bpf/probes.h bpf/vmlinux.h
BUILT_SOURCES += bpf/probes.skel.h
CLEANFILES += $(BPF_GEN)/vmlinux.h bpf/probes.bpf.o bpf/probes.skel.h

# The kernel's types: dumped from its BTF, or the checked-in copy without BTF.
$(BPF_GEN)/vmlinux.h: $(srcdir)/bpf/vmlinux.h
	$(AM_V_GEN)$(MKDIR_P) $(BPF_GEN) && \
	if [ -r /sys/kernel/btf/vmlinux ] && \
	   $(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp 2>/dev/null; then \
		mv -f $@.tmp $@; \
	else \
		rm -f $@.tmp && cp $(srcdir)/bpf/vmlinux.h $@; \
	fi

# The BPF object; the target architecture selects pt_regs argument registers.
bpf/probes.bpf.o: $(srcdir)/bpf/probes.bpf.c $(srcdir)/bpf/probes.h $(BPF_GEN)/vmlinux.h
	$(AM_V_GEN)$(MKDIR_P) bpf && \
	case "$(host_cpu)" in \
	x86_64|i?86) arch=x86 ;; aarch64) arch=arm64 ;; arm*) arch=arm ;; \
	powerpc*|ppc*) arch=powerpc ;; s390*) arch=s390 ;; riscv*) arch=riscv ;; \
	*) arch=$(host_cpu) ;; \
	esac && \
	sysinc=`$(BPF_CLANG) -v -E - </dev/null 2>&1 | \
		sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }'` && \
	$(BPF_CLANG) $(BPF_CFLAGS) -D__TARGET_ARCH_$$arch $$sysinc \
		-c $(srcdir)/bpf/probes.bpf.c -o $@

# The libbpf skeleton the loader includes.
bpf/probes.skel.h: bpf/probes.bpf.o
	$(AM_V_GEN)$(BPFTOOL) gen skeleton bpf/probes.bpf.o name probes_bpf > $@.tmp && mv -f $@.tmp $@
