/* SPDX-License-Identifier: MIT */
/*
 * The plain driver and the AFL++ one. Without arguments it runs one input
 * from standard input: under afl-clang-fast that is AFL++'s persistent
 * loop (shared-memory test cases, many per process). With arguments it
 * replays each file, and every file of each directory, and says how many
 * passed (a failing one aborts with the failed invariant).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "target.h"

#ifdef __AFL_FUZZ_TESTCASE_LEN
__AFL_FUZZ_INIT();
#endif

#define MAX_FILE (1u << 20)

static unsigned replayed;

static void replay_file(const char *path)
{
    static uint8_t buf[MAX_FILE];
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    if (getenv("VITS_FUZZ_VERBOSE"))
        fprintf(stderr, "replaying %s (%zu bytes)\n", path, n);
    vits_fuzz_one(buf, n);
    replayed++;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void replay_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        exit(2);
    }
    if (!S_ISDIR(st.st_mode)) {
        replay_file(path);
        return;
    }
    DIR *dir = opendir(path);
    if (!dir) {
        perror(path);
        exit(2);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof(*names));
            if (!names)
                exit(2);
        }
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        names[n] = malloc(len);
        if (!names[n])
            exit(2);
        snprintf(names[n++], len, "%s/%s", path, e->d_name);
    }
    closedir(dir);
    qsort(names, n, sizeof(*names), by_name);
    for (size_t i = 0; i < n; i++) {
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
            replay_file(names[i]);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            replay_path(argv[i]);
        printf("vits-fuzz: %u passed, 0 failed\n", replayed);
        return 0;
    }
#ifdef __AFL_FUZZ_TESTCASE_LEN
#ifdef __AFL_HAVE_MANUAL_CONTROL
    __AFL_INIT();
#endif
    uint8_t *buf = __AFL_FUZZ_TESTCASE_BUF;
    while (__AFL_LOOP(10000)) {
        int len = __AFL_FUZZ_TESTCASE_LEN;
        vits_fuzz_one(buf, (size_t)len);
    }
#else
    static uint8_t buf[MAX_FILE];
    size_t n = fread(buf, 1, sizeof(buf), stdin);
    vits_fuzz_one(buf, n);
#endif
    return 0;
}
