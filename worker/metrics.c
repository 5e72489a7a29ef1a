/* node_exporter textfile metrics of a run, replaced atomically. */
#include "worker/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/strings.h"

#define METRICS_PATH_MAX 4096
#define METRICS_READ_MAX 65536

static const char LAST_SUCCESS[] =
    "placement_janitor_last_success_timestamp_seconds";

/* The per-pass counts, each a gauge with a pass label. */
static const struct {
	const char *name;
	const char *help;
	size_t offset; /* of a size_t in struct pj_pass_report */
} pass_counts[] = {
	{ "placement_janitor_pass_found",
	    "Damaged records the pass found in the last run.",
	    offsetof(struct pj_pass_report, found) },
	{ "placement_janitor_pass_repaired",
	    "Records the pass repaired and committed in the last run.",
	    offsetof(struct pj_pass_report, repaired) },
	{ "placement_janitor_pass_failed",
	    "Records in batches that failed after retries in the last run.",
	    offsetof(struct pj_pass_report, failed) },
	{ "placement_janitor_pass_remaining",
	    "Damage known to remain when the pass ended in the last run.",
	    offsetof(struct pj_pass_report, remaining) },
	{ "placement_janitor_pass_batches",
	    "Batch transactions the pass committed in the last run.",
	    offsetof(struct pj_pass_report, batches) },
	{ "placement_janitor_pass_retries",
	    "Batch redos after a retryable error in the last run.",
	    offsetof(struct pj_pass_report, retries) },
	{ "placement_janitor_pass_conflicts",
	    "Batch redos caused by generation conflicts in the last run.",
	    offsetof(struct pj_pass_report, conflicts) },
	{ "placement_janitor_pass_certification_failures",
	    "Batch redos after a Galera certification failure in the last run.",
	    offsetof(struct pj_pass_report, certification_failures) },
};

bool
pj_metrics_run_succeeded(int exit_code)
{
	return exit_code == 0 || exit_code == 1;
}

/* A label value, escaped as the exposition format wants. */
static void
put_label(FILE *out, const char *value)
{
	const char *s;

	for (s = value != NULL ? value : ""; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '"')
			fputs("\\\"", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

static void
put_head(FILE *out, const char *name, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static void
put_pass_sample(FILE *out, const char *name, const struct pj_pass_report *p)
{
	fprintf(out, "%s{pass=\"", name);
	put_label(out, p->name);
	fputs("\"} ", out);
}

static void
format_passes(const struct pj_run_report *r, FILE *out)
{
	const struct pj_pass_report *p;
	size_t i, k, value;

	put_head(out, "placement_janitor_pass_info",
	    "Passes of the last run, with their mode; always 1.");
	for (i = 0; i < r->n_passes; i++) {
		p = &r->passes[i];
		fputs("placement_janitor_pass_info{pass=\"", out);
		put_label(out, p->name);
		fputs("\",mode=\"", out);
		put_label(out, pj_cfg_mode_name(p->mode));
		fputs("\"} 1\n", out);
	}
	put_head(out, "placement_janitor_pass_ran",
	    "1 if the pass ran in the last run, 0 if an earlier stop kept it "
	    "from running or --provider/--consumer do not apply to it.");
	for (i = 0; i < r->n_passes; i++) {
		put_pass_sample(
		    out, "placement_janitor_pass_ran", &r->passes[i]);
		fprintf(out, "%d\n", r->passes[i].ran ? 1 : 0);
	}
	for (k = 0; k < sizeof(pass_counts) / sizeof(pass_counts[0]); k++) {
		put_head(out, pass_counts[k].name, pass_counts[k].help);
		for (i = 0; i < r->n_passes; i++) {
			p = &r->passes[i];
			memcpy(&value, (const char *)p + pass_counts[k].offset,
			    sizeof(value));
			put_pass_sample(out, pass_counts[k].name, p);
			fprintf(out, "%zu\n", value);
		}
	}
	put_head(out, "placement_janitor_pass_duration_seconds",
	    "Wall time of the pass in the last run.");
	for (i = 0; i < r->n_passes; i++) {
		put_pass_sample(out, "placement_janitor_pass_duration_seconds",
		    &r->passes[i]);
		fprintf(out, "%.6f\n", r->passes[i].seconds);
	}
}

void
pj_metrics_format(const struct pj_run_report *r, int64_t finished_at_s,
    int64_t last_success_s, FILE *out)
{
	put_head(out, "placement_janitor_run_info",
	    "The last run's command and version; always 1.");
	fputs("placement_janitor_run_info{command=\"", out);
	put_label(out, r->command);
	fprintf(
	    out, "\",dry_run=\"%s\",version=\"", r->dry_run ? "true" : "false");
	put_label(out, PJ_VERSION);
	fputs("\"} 1\n", out);
	put_head(out, "placement_janitor_exit_code",
	    "Exit status of the last run (see placement-janitor(8)).");
	fprintf(out, "placement_janitor_exit_code %d\n", r->exit_code);
	put_head(out, "placement_janitor_run_duration_seconds",
	    "Wall time of the last run.");
	fprintf(
	    out, "placement_janitor_run_duration_seconds %.6f\n", r->seconds);
	put_head(out, "placement_janitor_run_stopped_early",
	    "1 if a limit or a signal stopped the last run early.");
	fprintf(out, "placement_janitor_run_stopped_early %d\n",
	    r->stopped_by != NULL ? 1 : 0);
	put_head(out, "placement_janitor_last_run_timestamp_seconds",
	    "Unix time the last run finished.");
	fprintf(out,
	    "placement_janitor_last_run_timestamp_seconds %" PRId64 "\n",
	    finished_at_s);
	put_head(out, LAST_SUCCESS,
	    "Unix time the last run with exit status 0 or 1 finished; 0: "
	    "never.");
	fprintf(out, "%s %" PRId64 "\n", LAST_SUCCESS, last_success_s);
	format_passes(r, out);
}

/* The value on the LAST_SUCCESS line of text, or 0. */
static int64_t
find_last_success(const char *text)
{
	size_t n = strlen(LAST_SUCCESS);
	const char *line = text;
	char *end;
	double v;

	while (line != NULL) {
		if (strncmp(line, LAST_SUCCESS, n) == 0 && line[n] == ' ') {
			v = strtod(line + n + 1, &end);
			if (end != line + n + 1 &&
			    (*end == '\n' || *end == '\0') && v >= 0 &&
			    v < 1e15)
				return (int64_t)v;
		}
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	return 0;
}

int64_t
pj_metrics_last_success(const char *path)
{
	char *buf = NULL;
	struct stat st;
	size_t used = 0;
	ssize_t got;
	int64_t value = 0;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return 0;
	buf = malloc(METRICS_READ_MAX + 1);
	if (buf == NULL || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		goto out;
	while (used < METRICS_READ_MAX) {
		got = read(fd, buf + used, METRICS_READ_MAX - used);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		used += (size_t)got;
	}
	buf[used] = '\0';
	value = find_last_success(buf);
out:
	free(buf);
	close(fd);
	return value;
}

/* The whole text in memory first: a failure leaves no partial file. */
static int
render(const struct pj_run_report *r, int64_t finished_at_s,
    int64_t last_success_s, char **text, size_t *len, struct pj_error *err)
{
	FILE *out;
	int bad;

	out = open_memstream(text, len);
	if (out == NULL)
		return pj_error_set(err, PJ_ENOMEM, "metrics: out of memory");
	pj_metrics_format(r, finished_at_s, last_success_s, out);
	bad = ferror(out);
	if (fclose(out) != 0 || bad)
		return pj_error_set(err, PJ_ENOMEM, "metrics: out of memory");
	return PJ_OK;
}

static int
write_all(
    int fd, const char *text, size_t len, const char *tmp, struct pj_error *err)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, text, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return pj_error_set(err, PJ_EIO,
			    "metrics file %.300s: %s", tmp, strerror(errno));
		text += n;
		len -= (size_t)n;
	}
	/* fchmod: node_exporter runs as another user, whatever our umask. */
	if (fchmod(fd, 0644) != 0 || fsync(fd) != 0)
		return pj_error_set(err, PJ_EIO, "metrics file %.300s: %s", tmp,
		    strerror(errno));
	return PJ_OK;
}

/* Makes the rename durable; a failure here loses nothing but that. */
static void
sync_dir(const char *path)
{
	char copy[METRICS_PATH_MAX];
	int fd;

	pj_strlcpy(copy, path, sizeof(copy));
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	(void)fsync(fd);
	close(fd);
}

static int
check_path(const char *path, struct pj_error *err)
{
	size_t n = path != NULL ? strlen(path) : 0;
	size_t k = strlen(PJ_METRICS_SUFFIX);

	if (n <= k || strcmp(path + n - k, PJ_METRICS_SUFFIX) != 0 ||
	    path[n - k - 1] == '/')
		return pj_error_set(err, PJ_EINVAL,
		    "metrics file \"%.300s\": expected a file name ending in "
		    "%s",
		    path != NULL ? path : "", PJ_METRICS_SUFFIX);
	if (n + 32 > METRICS_PATH_MAX)
		return pj_error_set(err, PJ_EINVAL,
		    "metrics file \"%.300s...\": path too long", path);
	return PJ_OK;
}

int
pj_metrics_write(const char *path, const struct pj_run_report *r,
    int64_t finished_at_s, struct pj_error *err)
{
	char tmp[METRICS_PATH_MAX];
	int64_t last_success;
	char *text = NULL;
	size_t len = 0;
	bool created = false;
	int fd = -1;
	int rc;

	rc = check_path(path, err);
	if (rc)
		goto out;
	last_success = pj_metrics_run_succeeded(r->exit_code)
	    ? finished_at_s
	    : pj_metrics_last_success(path);
	rc = render(r, finished_at_s, last_success, &text, &len, err);
	if (rc)
		goto out;
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	fd = open(
	    tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = pj_error_set(err, PJ_EIO, "metrics file %.300s: %s", tmp,
		    strerror(errno));
		goto out;
	}
	created = true;
	rc = write_all(fd, text, len, tmp, err);
	if (rc)
		goto out;
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		fd = -1;
		rc = pj_error_set(err, PJ_EIO, "metrics file %.300s: %s", path,
		    strerror(errno));
		goto out;
	}
	fd = -1;
	created = false;
	sync_dir(path);
out:
	if (fd >= 0)
		close(fd);
	if (created)
		unlink(tmp);
	free(text);
	return rc;
}
