/* rotator: the command line. `serve` runs the API; `migrate` and `user add` are the operator's
 * tools for the database. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "api/api.h"
#include "cli/export_state.h"
#include "core/auth.h"
#include "core/housekeeping.h"
#include "core/keys.h"
#include "core/password.h"
#include "core/rotation.h"
#include "http/server.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/config.h"
#include "util/ids.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/text.h"

#ifndef ROTATOR_VERSION
#define ROTATOR_VERSION "0.0.0-dev"
#endif

/* What the command line said beyond the shared settings. */
struct args {
    struct config cfg;
    const char *email;
    const char *password_file;
    bool admin;
    bool help;
};

enum { OPT_EMAIL = 1000, OPT_ADMIN, OPT_PASSWORD_FILE, OPT_HELP, OPT_SETTINGS = 2000 };

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: rotator serve [settings]\n"
            "       rotator migrate [settings]\n"
            "       rotator export-state [settings]   (the security state as JSON, to stdout)\n"
            "       rotator user add --email EMAIL [--admin] [--password-file FILE] [settings]\n"
            "       rotator --version | --help\n\n"
            "`user add` reads the password from the first line of standard input unless\n"
            "--password-file is given; it never takes one on the command line.\n\n");
    config_print_help(out);
}

static int
parse_args(int argc, char **argv, struct args *a)
{
    struct option options[32] = {
        {"email", required_argument, NULL, OPT_EMAIL},
        {"admin", no_argument, NULL, OPT_ADMIN},
        {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
        {"help", no_argument, NULL, OPT_HELP},
    };
    char err[256];
    int opt;

    config_options(options + 4, 32 - 5, OPT_SETTINGS);
    if (config_from_env(&a->cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "rotator: %s\n", err);
        return -1;
    }
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case OPT_EMAIL:
            a->email = optarg;
            break;
        case OPT_ADMIN:
            a->admin = true;
            break;
        case OPT_PASSWORD_FILE:
            a->password_file = optarg;
            break;
        case OPT_HELP:
            a->help = true;
            break;
        default:
            if (opt < OPT_SETTINGS || config_set(&a->cfg, config_option_name(opt, OPT_SETTINGS),
                                                 optarg, err, sizeof(err)) != 0) {
                if (opt >= OPT_SETTINGS)
                    fprintf(stderr, "rotator: %s\n", err);
                return -1;
            }
        }
    }
    if (log_set_level(a->cfg.log_level) != 0) {
        fprintf(stderr, "rotator: unknown log level '%s'\n", a->cfg.log_level);
        return -1;
    }
    return 0;
}

/* SQLite needs its folder to exist; create var/ on a first `make run`. */
static void
make_database_directory(const char *url)
{
    char dir[1024];

    if (store_url_directory(url, dir, sizeof(dir)) == 0 && mkdir(dir, 0700) != 0 && errno != EEXIST)
        log_warning("main", "cannot create %s: %s", dir, strerror(errno));
}

/* Opens the database and brings its schema up to date. */
static struct store *
open_migrated_store(const struct config *cfg)
{
    char err[512];
    struct store *st;
    int from = 0, to = 0;

    make_database_directory(cfg->database);
    store_configure(&(struct store_options){.pool_size = (int)cfg->db_pool_size,
                                            .max_overflow = (int)cfg->db_max_overflow,
                                            .pool_timeout = (int)cfg->db_pool_timeout});
    if ((st = store_open(cfg->database, err, sizeof(err))) == NULL) {
        log_error("main", "%s", err);
        return NULL;
    }
    if (st->ops->migrate(st, &from, &to) != STORE_OK) {
        log_error("main", "cannot prepare the database; see the errors above");
        store_close(st);
        return NULL;
    }
    if (from != to)
        log_info("main", "database schema migrated from version %d to %d", from, to);
    else
        log_info("main", "database schema is up to date at version %d", to);
    return st;
}

static int
cmd_export_state(const struct args *a)
{
    struct store *st = open_migrated_store(&a->cfg);
    int rc = st != NULL && export_state(st, stdout) == 0 ? 0 : 1;

    store_close(st);
    return rc;
}

static int
cmd_migrate(const struct args *a)
{
    struct store *st = open_migrated_store(&a->cfg);

    store_close(st);
    return st ? 0 : 1;
}

/* Reads one line (the password) from `in`, without its line ending. At a terminal it asks,
 * and turns the echo off while the password is typed. */
static int
read_password(FILE *in, char *out, size_t outlen)
{
    struct termios saved, quiet;
    bool terminal = isatty(fileno(in)) && tcgetattr(fileno(in), &saved) == 0;
    char *line;
    size_t len;

    if (terminal) {
        fprintf(stderr, "Password: ");
        quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fileno(in), TCSAFLUSH, &quiet);
    }
    line = fgets(out, (int)outlen, in);
    if (terminal) {
        tcsetattr(fileno(in), TCSAFLUSH, &saved);
        fputc('\n', stderr);
    }
    if (line == NULL)
        return -1;
    len = strcspn(out, "\r\n");
    out[len] = '\0';
    return 0;
}

static int
obtain_password(const struct args *a, char *out, size_t outlen)
{
    FILE *in = stdin;
    int rc;

    if (a->password_file != NULL && (in = fopen(a->password_file, "r")) == NULL) {
        fprintf(stderr, "rotator: cannot open %s: %s\n", a->password_file, strerror(errno));
        return -1;
    }
    rc = read_password(in, out, outlen);
    if (in != stdin)
        fclose(in);
    if (rc != 0 || strlen(out) < LIMIT_PASSWORD_MIN || strlen(out) > LIMIT_PASSWORD_MAX) {
        fprintf(stderr, "rotator: the password must be one line of %d to %d characters\n",
                LIMIT_PASSWORD_MIN, LIMIT_PASSWORD_MAX);
        return -1;
    }
    return 0;
}

static int
cmd_user_add(const struct args *a)
{
    char password[LIMIT_PASSWORD_MAX + 2];
    struct store *st = NULL;
    struct user u = {0};
    enum store_result r;
    int rc = 1;

    if (a->email == NULL || !text_email_plausible(a->email) || strlen(a->email) > LIMIT_EMAIL_MAX) {
        fprintf(stderr, "rotator: user add needs --email with an email address\n");
        return 2;
    }
    if (obtain_password(a, password, sizeof(password)) != 0)
        goto out;
    if ((st = open_migrated_store(&a->cfg)) == NULL)
        goto out;

    ids_new(u.id);
    snprintf(u.email, sizeof(u.email), "%s", a->email);
    u.admin = a->admin;
    u.created_at = clock_now();
    if (password_hash(password, u.password_hash) != 0) {
        fprintf(stderr, "rotator: cannot hash the password\n");
        goto out;
    }
    r = st->ops->user_create(st, &u);
    if (r == STORE_CONFLICT)
        fprintf(stderr, "rotator: a user with email %s already exists\n", u.email);
    else if (r != STORE_OK)
        fprintf(stderr, "rotator: cannot create the user: %s\n", store_result_text(r));
    else {
        printf("created %s %s (id %s)\n", u.admin ? "admin" : "user", u.email, u.id);
        rc = 0;
    }
out:
    OPENSSL_cleanse(password, sizeof(password));
    store_close(st);
    return rc;
}

static void
hint_first_admin(struct store *st)
{
    bool exists = true;

    if (st->ops->admin_exists(st, &exists) == STORE_OK && !exists)
        log_warning("main",
                    "no admin account exists yet. Create the first one with:\n"
                    "    build/rotator user add --email admin@example.com --admin\n"
                    "  (it reads the password from standard input; use the same --database)");
}

/* The key file: the configured one, or jwt.key beside the SQLite database, made if missing. */
static int
load_signing_key(const struct config *cfg, struct signing_key *key)
{
    char path[1100], dir[1024], err[512];
    bool generate = cfg->jwt_key_file == NULL;

    if (!generate) {
        snprintf(path, sizeof(path), "%s", cfg->jwt_key_file);
    } else if (store_url_directory(cfg->database, dir, sizeof(dir)) == 0) {
        snprintf(path, sizeof(path), "%s/jwt.key", dir);
    } else {
        log_error("main", "set ROTATOR_JWT_KEY_FILE (or --jwt-key-file) for this database");
        return -1;
    }
    if (keys_load(key, path, generate, err, sizeof(err)) != 0) {
        log_error("main", "%s", err);
        return -1;
    }
    return 0;
}

static int
cmd_serve(const struct args *a)
{
    static struct signing_key key;
    struct server_settings server = {
        .listen = a->cfg.listen, .database_url = a->cfg.database, .threads = (int)a->cfg.threads};
    struct auth_settings auth = {
        .key = &key, .access_ttl = a->cfg.access_ttl, .refresh_ttl = a->cfg.refresh_ttl};
    struct store *st = NULL;
    char err[512];
    int rc = 1;

    make_database_directory(a->cfg.database);
    if (store_claim_exclusive(a->cfg.database, err, sizeof(err)) != 0) {
        log_error("main", "%s", err);
        return 1;
    }
    if ((st = open_migrated_store(&a->cfg)) == NULL || load_signing_key(&a->cfg, &key) != 0)
        goto out;
    if (rotation_load_state(st, LIMIT_ACCESS_TTL_MAX) != STORE_OK) {
        log_error("main", "cannot load the revocation state; refusing to serve without it");
        goto out;
    }
    hint_first_admin(st);
    auth_configure(&auth);
    if (a->cfg.test_clock)
        log_warning("main", "TEST CLOCK ENABLED: any client can move this server's time "
                            "forward. Never run a real deployment like this.");
    api_enable_test_clock(a->cfg.test_clock);
    log_info("main", "rotator %s starting: %s database, access tokens %lds, refresh tokens %lds",
             ROTATOR_VERSION, st->ops->name, a->cfg.access_ttl, a->cfg.refresh_ttl);
    if (housekeeping_start(a->cfg.database) != 0)
        goto out;
    rc = server_run(&server, api_dispatch) == 0 ? 0 : 1;
    housekeeping_stop();
out:
    store_close(st);
    keys_wipe(&key);
    return rc;
}

int
main(int argc, char **argv)
{
    struct args a = {0};
    const char *cmd = argc > 1 ? argv[1] : NULL;

    /* The database holds password hashes and the key file is a secret: nothing rotator
     * creates is for other users to read. */
    umask(077);

    if (cmd == NULL || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(cmd ? stdout : stderr);
        return cmd ? 0 : 2;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("rotator %s\n", ROTATOR_VERSION);
        return 0;
    }
    if (strcmp(cmd, "user") == 0) {
        if (argc < 3 || strcmp(argv[2], "add") != 0) {
            fprintf(stderr, "rotator: the user command is: rotator user add --email EMAIL\n");
            return 2;
        }
        argc--;
        argv++;
    }
    if (parse_args(argc - 1, argv + 1, &a) != 0) {
        usage(stderr);
        return 2;
    }
    if (a.help) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(&a);
    if (strcmp(cmd, "migrate") == 0)
        return cmd_migrate(&a);
    if (strcmp(cmd, "export-state") == 0)
        return cmd_export_state(&a);
    if (strcmp(cmd, "user") == 0)
        return cmd_user_add(&a);
    fprintf(stderr, "rotator: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
