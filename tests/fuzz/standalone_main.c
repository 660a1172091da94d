/* tests/fuzz/standalone_main.c: replay a corpus through a fuzz target, no libFuzzer */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/*
 * Usage: fuzz_TARGET PATH...  Each PATH is an input file or a directory
 * whose regular files (dot files skipped) are inputs, run in name order.
 * A crash or a violated property aborts; running no input at all is an
 * error too, so that a mistyped corpus path cannot pass silently.
 */

/* run_file - read one file into an exact-size buffer and run it */
static int
run_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (fp == NULL) {
		perror(path);
		return -1;
	}
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc(buf, cap);
			if (buf == NULL)
				abort();
		}
		n = fread(buf + len, 1, cap - len, fp);
		len += n;
	} while (n > 0);
	if (ferror(fp)) {
		perror(path);
		fclose(fp);
		free(buf);
		return -1;
	}
	fclose(fp);
	{
		char *exact = fuzz_dup(buf, len);

		free(buf);
		LLVMFuzzerTestOneInput((const uint8_t *)exact, len);
		free(exact);
	}
	return 0;
}

/* no_dots - scandir filter: skip ".", ".." and hidden files */
static int
no_dots(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

int
main(int argc, char **argv)
{
	unsigned ran = 0, failed = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		struct dirent **list;
		int n;

		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			failed++;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			failed += run_file(argv[i]) != 0;
			ran++;
			continue;
		}
		n = scandir(argv[i], &list, no_dots, alphasort);
		if (n < 0) {
			perror(argv[i]);
			failed++;
			continue;
		}
		for (int j = 0; j < n; j++) {
			char path[4096];

			snprintf(path, sizeof(path), "%s/%s", argv[i],
			    list[j]->d_name);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				failed += run_file(path) != 0;
				ran++;
			}
			free(list[j]);
		}
		free(list);
	}
	printf("%s: %u inputs run, %u unreadable\n", argv[0], ran, failed);
	return ran == 0 || failed > 0;
}
