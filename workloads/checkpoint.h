/* SPDX-License-Identifier: MIT */
/* Checkpoints of the real worker: parameters and optimiser state at a round
 * boundary in a versioned binary file with a checksummed header, written
 * atomically (temp file, fsync, rename, fsync of the directory). */
#ifndef HARE_CHECKPOINT_H
#define HARE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

/*
 * File layout, little-endian, version 1:
 *   0   8  magic "HARECKPT"
 *   8   4  version (1)
 *  12   4  header size (128)
 *  16  32  model name, NUL-padded
 *  48   4  model family (enum proxy_family)
 *  52   4  tensors (2: parameters, momentum)
 *  56   8  seed of the job (the data and teacher depend on it)
 *  64   8  round: the next round to run (rounds [0, round) are in it)
 *  72   8  hash of the proxy sizes (proxy_spec_hash)
 *  80   8  floats per tensor
 *  88   8  payload bytes (tensors x floats x 4)
 *  96   4  CRC-32C of the payload
 * 100  24  reserved, zero
 * 124   4  CRC-32C of bytes 0..123
 * 128   .. payload: the tensors one after the other, float32
 * Files are named round-<20-digit round>.hckpt inside the directory.
 */
#define CKPT_MAGIC "HARECKPT"
#define CKPT_VERSION 1
#define CKPT_HEADER_SIZE 128
#define CKPT_MODEL_MAX 32
#define CKPT_PATH_MAX 4096

struct ckpt_meta {
	char model[CKPT_MODEL_MAX];
	uint32_t family;
	uint64_t seed;
	uint64_t round;
	uint64_t spec_hash;
	uint64_t nfloats;	/* per tensor */
};

/* CRC-32C (Castagnoli) of n bytes, continuing from crc (start with 0). */
uint32_t ckpt_crc32c(uint32_t crc, const void *data, size_t n);

/*
 * Write params and momentum (m->nfloats each) as dir/round-<m->round>.hckpt,
 * creating dir (and its parents) when missing. They are the owner's only:
 * folders made are 0700, the file 0600 (less where the umask says so).
 * Atomic: a crash leaves the old files and at most a stray ".tmp" file,
 * never a partial checkpoint.
 * The path written goes to path (may be NULL). Returns 0, or -errno with
 * "dir: what failed" in err.
 */
int ckpt_write(const char *dir, const struct ckpt_meta *m, const float *params,
	       const float *momentum, char *path, size_t pathlen, char *err, size_t errlen);

/*
 * Read and check the header of path into *m (the model zero-padded after its
 * NUL). Returns 0; -errno when the file cannot be read (-EISDIR for a
 * directory); -EBADMSG for a file that is not a regular file or not a
 * checkpoint, is truncated, whose header checksum is wrong, whose sizes
 * disagree with each other or with the file's length, or whose name
 * (round-<N>.hckpt) names another round than its header; -ENOTSUP for
 * another format version.
 */
int ckpt_read_meta(const char *path, struct ckpt_meta *m, char *err, size_t errlen);

/*
 * Read path into params and momentum (want->nfloats each) after checking
 * that it belongs to want's model, family, sizes (spec hash and nfloats) and
 * seed: -EINVAL with the difference in err when not, besides
 * ckpt_read_meta's errors and -EBADMSG for a bad payload checksum. *got gets
 * the file's header (its round is where to resume).
 */
int ckpt_read(const char *path, const struct ckpt_meta *want, float *params, float *momentum,
	      struct ckpt_meta *got, char *err, size_t errlen);

/*
 * The newest checkpoint file in dir whose round is <= max_round, by name:
 * its path and round. Returns 0, -ENOENT when there is none (or no dir), or
 * another -errno with err.
 */
int ckpt_find(const char *dir, uint64_t max_round, char *path, size_t pathlen, uint64_t *round,
	      char *err, size_t errlen);

/* Delete all but the newest `keep` checkpoint files of dir (and stray temp
 * files). Returns the number deleted or -errno with err. */
int ckpt_prune(const char *dir, uint32_t keep, char *err, size_t errlen);

#endif
