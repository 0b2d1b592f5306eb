/* SPDX-License-Identifier: MIT */
/* Device isolation (constrain_devices), as Slurm's ConstrainDevices: a
 * worker may open its own GPU's device file and no other GPU's of the node.
 * CUDA_VISIBLE_DEVICES only hides the others from CUDA; a program that
 * opens /dev/nvidia3 itself (or unsets the variable) would use a GPU
 * another job was given. Before a worker joins its cgroup (agent_cgroup.c)
 * the agent attaches to that cgroup a BPF program of type cgroup-device
 * that denies every access to the character devices of the node's other
 * GPUs and allows any other device (/dev/nvidiactl and /dev/nvidia-uvm,
 * which CUDA needs, /dev/null, ...). The kernel keeps the program with the
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

/* The program for a worker on GPU self: struct bpf_cgroup_dev_ctx is
 * { access_type (access << 16 | type), major, minor }; 1 allows, 0 denies.
 * Returns the number of instructions. */
static size_t dev_prog_build(const struct agent_config *c, uint32_t self, struct bpf_insn *p)
{
	size_t n = 0, allow, deny;
	uint32_t nd = 0;

	for (uint32_t i = 0; i < c->ngpus; i++)
		nd += i != self && c->gpus[i].has_dev;
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

		if (i == self || !g->has_dev)
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

/* The program loaded: its fd, or -errno with why said (the verifier's last
 * line where it refused it). */
static int dev_prog_load(const struct agent_config *c, uint32_t self, char *why, size_t len)
{
	struct bpf_insn p[DEV_PROG_MAX];
	char vlog[1024] = "";
	union bpf_attr at;
	int fd, e;

	memset(&at, 0, sizeof(at));
	at.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	at.insns = (uint64_t)(uintptr_t)p;
	at.insn_cnt = (uint32_t)dev_prog_build(c, self, p);
	at.license = (uint64_t)(uintptr_t)"MIT";
	at.log_buf = (uint64_t)(uintptr_t)vlog;
	at.log_size = sizeof(vlog);
	at.log_level = 1;
	fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &at, sizeof(at));
	if (fd >= 0)
		return fd;
	e = errno;
	vlog[strcspn(vlog, "\n")] = '\0';
	if (e == EPERM)
		snprintf(why, len, "loading a BPF program is not permitted (the agent needs root, "
			 "or CAP_BPF and CAP_SYS_ADMIN)");
	else
		snprintf(why, len, "loading its BPF program failed: %s%s%.200s", strerror(e),
			 vlog[0] ? ": " : "", vlog);
	return -e;
}

int agent_devices_limit(const struct agent *a, const char *cgroup, uint32_t gpu, char *why,
			size_t len)
{
	union bpf_attr at;
	int prog, cg, rc = 0;

	if (!cgroup[0]) {
		snprintf(why, len, "cannot isolate GPU %u: the worker has no cgroup to attach its "
			 "device rule to", gpu);
		return -ENOENT;
	}
	prog = dev_prog_load(&a->cfg, gpu, why, len);
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
	/* the cgroup holds the program now */
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
	if (snprintf(dir, sizeof(dir), "%s/devices.%d", a->cg_base, (int)getpid()) >=
	    (int)sizeof(dir))
		return -ENAMETOOLONG;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(why, len, "cannot make %.300s: %s", dir, strerror(-rc));
		return rc;
	}
	rc = agent_devices_limit(a, dir, 0, why, len);
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
		log_info("agent isolates GPUs: a worker may open its own GPU's device file only "
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
