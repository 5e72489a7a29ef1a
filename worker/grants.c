/* Printing the GRANTs that the enabled passes need, and no more. */
#include "worker/grants.h"

#include <string.h>

#include "worker/pass.h"

#define MAX_TABLES 32

struct table_privs {
	const char *table;
	unsigned int privs;
};

/* Writes s between quote characters, doubling any quote inside. */
static void
put_quoted(FILE *out, const char *s, char quote)
{
	fputc(quote, out);
	for (; *s != '\0'; s++) {
		if (*s == quote || (quote == '\'' && *s == '\\'))
			fputc(*s == '\\' ? '\\' : quote, out);
		fputc(*s, out);
	}
	fputc(quote, out);
}

static const struct {
	unsigned int bit;
	const char *name;
} priv_names[] = {
	{ PJ_PRIV_INSERT, "INSERT" },
	{ PJ_PRIV_UPDATE, "UPDATE" },
	{ PJ_PRIV_DELETE, "DELETE" },
};

/* One GRANT line; privs 0 means SELECT on the whole schema. */
static void
put_grant(FILE *out, const struct pj_config *cfg, unsigned int privs,
    const char *table)
{
	const char *sep = "";
	size_t k;

	fputs("GRANT ", out);
	if (privs == 0)
		fputs("SELECT", out);
	for (k = 0; k < sizeof(priv_names) / sizeof(priv_names[0]); k++) {
		if ((privs & priv_names[k].bit) == 0)
			continue;
		fprintf(out, "%s%s", sep, priv_names[k].name);
		sep = ", ";
	}
	fputs(" ON ", out);
	put_quoted(out, cfg->db.name, '`');
	fputc('.', out);
	if (table == NULL)
		fputc('*', out);
	else
		put_quoted(out, table, '`');
	fputs(" TO ", out);
	put_quoted(out, cfg->db.user, '\'');
	fputs("@'%';\n", out);
}

/* What a destructive pass writes before it deletes or changes a row. */
static const struct pj_grant archive_grant = { "placement_janitor_archive",
	PJ_PRIV_INSERT };

/*
 * What `restore` and `archive purge` write, beyond SELECT on the schema:
 * rows put back (INSERT), old values and generations (UPDATE), restored_at
 * marks and pruning in the archive. Operator commands, printed as their
 * own block so an account can be left without them.
 */
static const struct pj_grant restore_grants[] = {
	{ "allocations", PJ_PRIV_INSERT },
	{ "consumers", PJ_PRIV_INSERT | PJ_PRIV_UPDATE },
	{ "inventories", PJ_PRIV_INSERT },
	{ "resource_provider_aggregates", PJ_PRIV_INSERT },
	{ "resource_provider_traits", PJ_PRIV_INSERT },
	{ "resource_providers", PJ_PRIV_UPDATE },
	{ "placement_janitor_archive", PJ_PRIV_UPDATE | PJ_PRIV_DELETE },
	{ NULL, 0 },
};

/* Merges g into the table list t of n entries; returns the new count. */
static size_t
add(struct table_privs *t, size_t n, const struct pj_grant *g)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(t[i].table, g->table) == 0)
			break;
	}
	if (i == n && n == MAX_TABLES)
		return n;
	if (i == n) {
		t[n].table = g->table;
		t[n].privs = 0;
		n++;
	}
	t[i].privs |= g->privs;
	return n;
}

static size_t
collect(const struct pj_config *cfg, struct table_privs *t)
{
	const struct pj_pass *const *pp;
	const struct pj_grant *g;
	size_t n = 0;

	for (pp = pj_passes; *pp != NULL; pp++) {
		if (pj_cfg_pass_mode(cfg, (*pp)->name) != PJ_MODE_REPAIR)
			continue;
		if ((*pp)->destructive && cfg->archive.enabled)
			n = add(t, n, &archive_grant);
		if ((*pp)->grants == NULL)
			continue;
		for (g = (*pp)->grants; g->table != NULL; g++)
			n = add(t, n, g);
	}
	return n;
}

void
pj_grants_print(const struct pj_config *cfg, FILE *out)
{
	struct table_privs t[MAX_TABLES];
	size_t n, i;

	fputs(
	    "-- placement-janitor: least privileges for the passes in "
	    "repair mode.\n"
	    "-- Replace '%' with the hosts the worker connects from.\n",
	    out);
	put_grant(out, cfg, 0, NULL);
	n = collect(cfg, t);
	for (i = 0; i < n; i++)
		put_grant(out, cfg, t[i].privs, t[i].table);
	fputs(
	    "-- For restore and archive purge only (operator commands; leave\n"
	    "-- these out for an account that must never put rows back or\n"
	    "-- prune the archive):\n",
	    out);
	for (i = 0; restore_grants[i].table != NULL; i++)
		put_grant(
		    out, cfg, restore_grants[i].privs, restore_grants[i].table);
	if (cfg->replication.n_replicas == 0)
		return;
	/* SHOW ALL SLAVES STATUS (worker/throttle.c) needs this global
	 * privilege, on the replicas only, and it reads no table data. */
	fputs(
	    "-- On each replica in replication.replicas (MariaDB 10.5 and "
	    "later;\n-- REPLICATION CLIENT before), to read its lag:\n",
	    out);
	fputs("GRANT SLAVE MONITOR ON *.* TO ", out);
	put_quoted(out, cfg->db.user, '\'');
	fputs("@'%';\n", out);
}
