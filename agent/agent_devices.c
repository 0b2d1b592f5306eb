/* SPDX-License-Identifier: MIT */
/* Device isolation (constrain_devices), as Slurm's ConstrainDevices: a
 * worker may open the device files of its lease's GPUs on the node (its
 * own, and its peers' for NCCL's copies between them) and no other GPU's.
 * CUDA_VISIBLE_DEVICES only hides the others from CUDA; a program that
 * opens /dev/nvidia3 itself (or unsets the variable) would use a GPU
 * another job was given. Before a worker joins its cgroup (agent_cgroup.c)
 * the agent attaches to that cgroup a BPF program of type cgroup-device
 * that denies every access to the character devices of the node's GPUs
 * the lease does not have and allows any other device (/dev/nvidiactl
 * and /dev/nvidia-uvm, which CUDA needs, /dev/null, ...). The kernel keeps the program with the
 * cgroup (a restarted agent has nothing to do) and drops it with it. */
#include "agent_impl.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* One instruction: opcode, registers, offset, immediate. */
#define DEV_INSN(c, d, s, o, i)							\
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })

/* r0..r4 read the context, then 2 instructions per denied GPU, then the
 * allow and deny exits */
#define DEV_PROG_MAX (5 + 2 * AGENT_GPUS_MAX + 4)

/* Whether GPU i is denied by the rule that allows the GPUs of mask allow. */
static bool dev_denied(const struct agent_config *c, uint64_t allow, uint32_t i)
{
	return c->gpus[i].has_dev && !(allow >> i & 1);
}

/* The program for a worker that may open the GPUs of mask allow (bit i:
 * GPU i): struct bpf_cgroup_dev_ctx is { access_type (access << 16 |
 * type), major, minor }; 1 allows, 0 denies. Returns the number of
 * instructions. */
static size_t dev_prog_build(const struct agent_config *c, uint64_t allow_mask,
			     struct bpf_insn *p)
{
	size_t n = 0, allow, deny;
	uint32_t nd = 0;

	for (uint32_t i = 0; i < c->ngpus; i++)
		nd += dev_denied(c, allow_mask, i);
	if (nd == 0) {
		/* nothing to deny (a node of one GPU): the verifier refuses
		 * code that cannot be reached, so no tests at all */
		p[n++] = DEV_INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1);
		p[n++] = DEV_INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
		return n;
	}
	allow = 5 + 2 * (size_t)nd;
	deny = allow + 2;
	p[n++] = DEV_INSN(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_2, BPF_REG_1, 0, 0);
	p[n++] = DEV_INSN(BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff);
	p[n++] = DEV_INSN(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_3, BPF_REG_1, 4, 0);
	p[n++] = DEV_INSN(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_4, BPF_REG_1, 8, 0);
	/* a jump's offset counts from the next instruction */
	p[n] = DEV_INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, (short)(allow - n - 1),
			BPF_DEVCG_DEV_CHAR);
	n++;
	for (uint32_t i = 0; i < c->ngpus; i++) {
		const struct agent_gpu *g = &c->gpus[i];

		if (!dev_denied(c, allow_mask, i))
			continue;
		p[n++] = DEV_INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_3, 0, 1, (int)major(g->dev));
		p[n] = DEV_INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_4, 0, (short)(deny - n - 1),
				(int)minor(g->dev));
		n++;
	}
	p[n++] = DEV_INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1);
	p[n++] = DEV_INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	p[n++] = DEV_INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
	p[n++] = DEV_INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	return n;
}

/* One BPF_PROG_LOAD of the n instructions p, with the verifier's log in
 * vlog (NULL: none). The fd, or -errno. */
static int dev_prog_load_one(const struct bpf_insn *p, size_t n, char *vlog, size_t vlen)
{
	union bpf_attr at;
	int fd;

	memset(&at, 0, sizeof(at));
	at.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	at.insns = (uint64_t)(uintptr_t)p;
	at.insn_cnt = (uint32_t)n;
	at.license = (uint64_t)(uintptr_t)"MIT";
	if (vlog) {
		at.log_buf = (uint64_t)(uintptr_t)vlog;
		at.log_size = (uint32_t)vlen;
		at.log_level = 1;
	}
	fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &at, sizeof(at));
	return fd >= 0 ? fd : -errno;
}

/* The verifier's last line of its log in vlog: why it refused. */
static const char *dev_vlog_last(char *vlog)
{
	char *end = vlog + strlen(vlog), *line;

	while (end > vlog && end[-1] == '\n')
		*--end = '\0';
	line = strrchr(vlog, '\n');
	return line ? line + 1 : vlog;
}

/* The program loaded: its fd, or -errno with why said. Loaded without the
 * verifier's log (which lists every instruction, and fails a program whose
 * listing does not fit); where it is refused, again with a log that says
 * why. */
static int dev_prog_load(const struct agent_config *c, uint64_t allow, char *why, size_t len)
{
	static char vlog[65536];
	struct bpf_insn p[DEV_PROG_MAX];
	size_t n = dev_prog_build(c, allow, p);
	int fd = dev_prog_load_one(p, n, NULL, 0), fd2;

	if (fd >= 0)
		return fd;
	if (fd == -EPERM) {
		snprintf(why, len, "loading a BPF program is not permitted (the agent needs root: "
			 "CAP_SYS_ADMIN, or CAP_BPF with CAP_NET_ADMIN)");
		return fd;
	}
	vlog[0] = '\0';
	fd2 = dev_prog_load_one(p, n, vlog, sizeof(vlog));
	if (fd2 >= 0)
		return fd2;	/* it passed this time */
	snprintf(why, len, "loading its BPF program failed: %s%s%.200s", strerror(-fd),
		 vlog[0] ? ": " : "", dev_vlog_last(vlog));
	return fd;
}

int agent_devices_limit(const struct agent *a, const char *cgroup, uint32_t gpu,
			const uint32_t *also, size_t nalso, char *why, size_t len)
{
	uint64_t allow = gpu < 64 ? 1ull << gpu : 0;
	union bpf_attr at;
	int prog, cg, rc = 0;

	for (size_t i = 0; i < nalso; i++)
		allow |= also[i] < 64 ? 1ull << also[i] : 0;

	if (!cgroup[0]) {
		snprintf(why, len, "cannot isolate GPU %u: the worker has no cgroup to attach its "
			 "device rule to", gpu);
		return -ENOENT;
	}
	prog = dev_prog_load(&a->cfg, allow, why, len);
	if (prog < 0)
		return prog;
	cg = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		rc = -errno;
		snprintf(why, len, "cannot isolate GPU %u: %.300s: %s", gpu, cgroup, strerror(-rc));
		close(prog);
		return rc;
	}
	memset(&at, 0, sizeof(at));
	at.target_fd = (uint32_t)cg;
	at.attach_bpf_fd = (uint32_t)prog;
	at.attach_type = BPF_CGROUP_DEVICE;
	/* with the programs of the cgroups above (systemd's DevicePolicy): a
	 * device is opened only where every one of them allows it */
	at.attach_flags = BPF_F_ALLOW_MULTI;
	if (syscall(SYS_bpf, BPF_PROG_ATTACH, &at, sizeof(at)) < 0) {
		rc = -errno;
		snprintf(why, len, "cannot isolate GPU %u: attaching its device rule to %.300s "
			 "failed: %s", gpu, cgroup, strerror(-rc));
	}
	/* the cgroup holds the program now. One left by an earlier run of
	 * the same rank (agent_cgroup_make keeps it) holds that run's rule
	 * too: the same GPU's, as a lease's rank keeps its GPU */
	close(cg);
	close(prog);
	return rc;
}

/* Whether isolation can be had: every GPU has a device file, the agent
 * has cgroups, and a rule attaches to a cgroup. 0, or -errno with why. */
static int dev_probe(struct agent *a, char *why, size_t len)
{
	char dir[AGENT_CGROUP_MAX];
	uint32_t with = 0;
	int rc;

	for (uint32_t i = 0; i < a->cfg.ngpus; i++)
		with += a->cfg.gpus[i].has_dev;
	if (a->cfg.ngpus == 0) {
		snprintf(why, len, "the node has no GPU");
		return -ENODEV;
	}
	if (with < a->cfg.ngpus) {
		snprintf(why, len, "%s", with == 0 && a->cfg.gpus[0].emulated ?
			 "the node's GPUs are emulated (no device files)" :
			 "the device file of some GPU is not known");
		return -ENODEV;
	}
	if (!agent_cgroup_on(a)) {
		snprintf(why, len, "the agent has no cgroup v2 for its tasks (key cgroup)");
		return -ENOENT;
	}
	/* probe.*: swept at the next start should the agent die meanwhile */
	if (snprintf(dir, sizeof(dir), "%s/probe.devices.%d", a->cg_base, (int)getpid()) >=
	    (int)sizeof(dir)) {
		snprintf(why, len, "the path of its probe cgroup is too long");
		return -ENAMETOOLONG;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(why, len, "cannot make %.300s: %s", dir, strerror(-rc));
		return rc;
	}
	rc = agent_devices_limit(a, dir, 0, NULL, 0, why, len);
	rmdir(dir);
	return rc;
}

int agent_devices_init(struct agent *a, char *err, size_t errlen)
{
	char why[512] = "";
	int rc;

	a->dev_on = false;
	if (a->cfg.constrain_devices == AGENT_DEVICES_NO)
		return 0;
	rc = dev_probe(a, why, sizeof(why));
	if (rc == 0) {
		a->dev_on = true;
		log_info("agent isolates GPUs: a worker may open its lease's GPUs' device files only "
			 "(constrain_devices)");
		return 0;
	}
	if (a->cfg.constrain_devices == AGENT_DEVICES_YES) {
		snprintf(err, errlen, "constrain_devices = yes, but %s", why);
		return rc;
	}
	if (a->cfg.ngpus > 0)
		log_info("agent does not isolate GPUs (constrain_devices = auto): %s; a worker "
			 "sees its GPU only through CUDA_VISIBLE_DEVICES", why);
	return 0;
}

bool agent_devices_on(const struct agent *a)
{
	return a->dev_on;
}
