/*
 * libFuzzer target: the config loader on any bytes. config/yaml.h reads
 * only files, so each input is written to one private file (in $TMPDIR:
 * tests/fuzz/run.sh points it at a tmpfs) and loaded from there.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "config/config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Set once by LLVMFuzzerInitialize; the fuzzer's state, not settings. */
static char dir[PATH_MAX];
static char path[PATH_MAX];
static FILE *devnull;

static void
remove_file(void)
{
	unlink(path);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	if ((size_t)snprintf(dir, sizeof(dir), "%s/pj-fuzz-config.XXXXXX",
	        tmp) >= sizeof(dir) ||
	    mkdtemp(dir) == NULL) {
		fprintf(stderr, "fuzz_config: cannot make a directory in %s\n",
		    tmp);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/placement-janitor.yaml", dir);
	devnull = fopen("/dev/null", "w");
	if (devnull == NULL) {
		fprintf(stderr, "fuzz_config: cannot open /dev/null\n");
		exit(1);
	}
	atexit(remove_file);
	return 0;
}

/* Writes the input as the whole file, mode 0600 (so an inline password
 * is allowed), owned by us. */
static void
write_file(const uint8_t *data, size_t size)
{
	size_t done = 0;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			abort();
		done += (size_t)n;
	}
	if (close(fd) != 0)
		abort();
}

/* A message is one "FILE:LINE:COLUMN: key: message" (or "FILE: ...")
 * line: it names the file and holds no line break a reader could take
 * for the start of another message. */
static void
check_messages(const struct pj_cfg_diag *diag)
{
	size_t i, len = strlen(path);

	if (diag->n > PJ_CFG_MAX_ERRORS)
		abort();
	for (i = 0; i < diag->n; i++) {
		const char *m = diag->msg[i];

		if (strnlen(m, sizeof(diag->msg[i])) == sizeof(diag->msg[i]))
			abort();
		if (strncmp(m, path, len) != 0 || m[len] != ':')
			abort();
		if (strpbrk(m, "\n\r") != NULL)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pj_error err = { 0 };
	struct pj_cfg_diag *diag = NULL;
	struct pj_config *cfg = NULL, *before = NULL;
	int rc;

	diag = malloc(sizeof(*diag));
	cfg = malloc(sizeof(*cfg));
	before = malloc(sizeof(*before));
	if (diag == NULL || cfg == NULL || before == NULL)
		abort();
	/* A pattern no load could produce, to see that a refused file
	 * leaves the caller's config alone. */
	memset(cfg, 0xa5, sizeof(*cfg));
	memcpy(before, cfg, sizeof(*cfg));
	write_file(data, size);

	rc = pj_cfg_load(path, cfg, diag, &err);
	check_messages(diag);
	if (rc == PJ_OK) {
		if (err.code != PJ_OK || diag->n != 0 || diag->dropped != 0 ||
		    strcmp(cfg->path, path) != 0)
			abort();
		pj_cfg_print(cfg, devnull);
	} else {
		/* All or nothing: refused, every problem listed, the config
		 * untouched. */
		if (rc != PJ_ECONFIG || err.code != PJ_ECONFIG ||
		    err.msg[0] == '\0' || diag->n == 0 ||
		    memcmp(cfg, before, sizeof(*cfg)) != 0)
			abort();
	}
	free(before);
	free(cfg);
	free(diag);
	return 0;
}
