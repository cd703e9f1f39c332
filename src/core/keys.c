#include "core/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "util/limits.h"
#include "util/log.h"

_Static_assert(sizeof(((struct signing_key *)0)->bytes) == LIMIT_KEY_BYTES_MAX, "key buffer size");

static int
generate_key_file(const char *path, char *err, size_t errlen)
{
    unsigned char fresh[32];
    int fd = -1;
    int rc = -1;

    if (RAND_bytes(fresh, sizeof(fresh)) != 1) {
        snprintf(err, errlen, "cannot draw random bytes for a new key");
        goto out;
    }
    /* O_EXCL: two processes starting at once must not both write a key. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            rc = 0;
        else
            snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    if (write(fd, fresh, sizeof(fresh)) != (ssize_t)sizeof(fresh) || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(path);
        goto out;
    }
    log_warning("keys",
                "generated a new 256-bit signing key in %s (mode 0600); keep it secret "
                "and back it up with the database",
                path);
    rc = 0;
out:
    OPENSSL_cleanse(fresh, sizeof(fresh));
    if (fd >= 0)
        close(fd);
    return rc;
}

int
keys_load(struct signing_key *key, const char *path, int generate, char *err, size_t errlen)
{
    struct stat st;
    ssize_t n;
    int fd = -1;
    int rc = -1;

    key->len = 0;
    if (generate && access(path, F_OK) != 0 && generate_key_file(path, err, errlen) != 0)
        goto out;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot open key file %s: %s", path, strerror(errno));
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        log_warning("keys", "key file %s is readable by group or others; chmod 600 it", path);

    n = read(fd, key->bytes, sizeof(key->bytes));
    if (n < LIMIT_KEY_BYTES_MIN || (size_t)n >= sizeof(key->bytes)) {
        snprintf(err, errlen, "key file %s must hold %d to %d bytes of secret", path,
                 LIMIT_KEY_BYTES_MIN, LIMIT_KEY_BYTES_MAX - 1);
        goto out;
    }
    key->len = (size_t)n;
    mlock(key->bytes, sizeof(key->bytes));
    rc = 0;
out:
    if (rc != 0)
        keys_wipe(key);
    if (fd >= 0)
        close(fd);
    return rc;
}

void
keys_wipe(struct signing_key *key)
{
    OPENSSL_cleanse(key->bytes, sizeof(key->bytes));
    key->len = 0;
}
