/* Real/effective/saved uid and gid and the groups are the same before and after. */
#include "ckpt_check.h"
#include <grp.h>
#include <string.h>

int main(void) {
    uid_t u[3], u2[3];
    gid_t g[3], g2[3], groups[64], groups2[64];
    getresuid(&u[0], &u[1], &u[2]);
    getresgid(&g[0], &g[1], &g[2]);
    int n = getgroups(64, groups);
    dprintf(1, "info uid %u gid %u groups %d\n", u[0], g[0], n);
    ready("credentials");
    wait_line();
    getresuid(&u2[0], &u2[1], &u2[2]);
    getresgid(&g2[0], &g2[1], &g2[2]);
    int n2 = getgroups(64, groups2);
    CHECK(memcmp(u, u2, sizeof u) == 0, "uids %u/%u/%u, expected %u/%u/%u", u2[0], u2[1], u2[2], u[0], u[1], u[2]);
    CHECK(memcmp(g, g2, sizeof g) == 0, "gids %u/%u/%u, expected %u/%u/%u", g2[0], g2[1], g2[2], g[0], g[1], g[2]);
    CHECK(n == n2 && memcmp(groups, groups2, (size_t)n * sizeof *groups) == 0, "groups differ (%d, expected %d)", n2, n);
    return pass();
}
