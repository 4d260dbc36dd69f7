/* The pod sandbox's process for deploy/cluster.sh's local cluster (no registry here for
 * registry.k8s.io/pause): it holds the pod's namespaces, reaps orphans, and exits on TERM/INT. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

static void reap(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(void) {
    signal(SIGINT, stop);
    signal(SIGTERM, stop);
    signal(SIGCHLD, reap);
    for (;;) pause();
}
