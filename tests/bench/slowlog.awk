# Sums a MariaDB slow log (long_query_time 0) by statement shape, for
# tests/bench/destructive.sh --slow-log: one line per shape with the number
# of executions, their total server time (s) and rows examined, then the
# shape (numbers and quoted strings as N and ?, cut to 100 characters).
/^# Query_time:/ {
	flush()
	qt = $3
	for (i = 1; i <= NF; i++)
		if ($i == "Rows_examined:")
			re = $(i + 1)
	inq = 1
	next
}
/^# / || /^SET timestamp=/ || /^use / { next }
inq { stmt = stmt " " $0 }

function flush(s) {
	if (stmt == "")
		return
	s = stmt
	gsub(/'[^']*'/, "?", s)
	gsub(/[0-9]+/, "N", s)
	gsub(/[ \t]+/, " ", s)
	s = substr(s, 2, 100)
	cnt[s]++
	tot[s] += qt
	rex[s] += re
	stmt = ""
}

END {
	flush()
	for (s in cnt)
		printf "%8d %8.3f %9d  %s\n", cnt[s], tot[s], rex[s], s
}
