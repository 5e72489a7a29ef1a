/*
 * measure: runs a command and writes its wall time, CPU time (user +
 * system), peak resident set size and exit status to a file, for
 * tests/bench/run.sh. The peak comes from
 * wait4()'s rusage (ru_maxrss, the kernel's own high-water mark of the
 * child), so no polling can miss it and no /usr/bin/time is needed.
 *
 *   measure OUT_FILE COMMAND [ARG...]
 *
 * The command keeps our standard input, output and error. OUT_FILE gets
 * one line: wall_s=S cpu_s=S peak_rss_kib=N exit=N. Exits as the command
 * did (128 + signal if killed), 125 if it could not be measured.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct rusage ru;
	FILE *out = NULL;
	double t0, wall, cpu;
	pid_t pid;
	int status = 0, code;

	if (argc < 3) {
		fputs("usage: measure OUT_FILE COMMAND [ARG...]\n", stderr);
		return 125;
	}
	out = fopen(argv[1], "w");
	if (out == NULL) {
		fprintf(stderr, "measure: %s: %s\n", argv[1], strerror(errno));
		return 125;
	}
	fflush(NULL);
	t0 = now_s();
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "measure: fork: %s\n", strerror(errno));
		fclose(out);
		return 125;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "measure: %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	memset(&ru, 0, sizeof(ru));
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(
			    stderr, "measure: wait4: %s\n", strerror(errno));
			fclose(out);
			return 125;
		}
	}
	wall = now_s() - t0;
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	fprintf(out, "wall_s=%.3f cpu_s=%.3f peak_rss_kib=%ld exit=%d\n", wall,
	    cpu, ru.ru_maxrss, code);
	if (fclose(out) != 0) {
		fprintf(stderr, "measure: %s: %s\n", argv[1], strerror(errno));
		return 125;
	}
	return code;
}
