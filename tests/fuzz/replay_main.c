/* SPDX-License-Identifier: MIT */
/* Replays a fuzz target over every file of a corpus directory (or the files
 * named), so the corpus is a regression test when libFuzzer is not built. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(len > 0 ? (size_t)len : 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

static int replay_dir(const char *dir, int *count)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (replay_file(path) == 0)
			(*count)++;
	}
	closedir(d);
	return 0;
}

int main(int argc, char **argv)
{
	int count = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "%s: not found\n", argv[i]);
			return 1;
		}
		if (S_ISDIR(st.st_mode) ? replay_dir(argv[i], &count) : replay_file(argv[i])) {
			fprintf(stderr, "%s: cannot read\n", argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode))
			count++;
	}
	printf("replayed %d inputs\n", count);
	return count > 0 ? 0 : 1;
}
