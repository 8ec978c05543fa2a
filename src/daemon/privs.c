/* SPDX-License-Identifier: MIT
 *
 * Least privilege (privs.h): the user vigil runs as, its state directory,
 * and no capabilities once its sockets are bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "daemon/privs.h"

#define MAX_FILES (VG_POLICY_MAX_SOURCES + 6)

size_t vg_privs_written_files(const struct vg_config *cfg, const char **out, size_t cap)
{
	size_t n = 0;

	if (cfg->dnssec.validation && cfg->dnssec.auto_ta_file[0] && n < cap)
		out[n++] = cfg->dnssec.auto_ta_file;
	if (cfg->policy.log[0] && strcmp(cfg->policy.log, "syslog") && n < cap)
		out[n++] = cfg->policy.log;
	if (cfg->qlog.file[0] && n < cap)
		out[n++] = cfg->qlog.file;
	if (cfg->qlog.dnstap_file[0] && n < cap)
		out[n++] = cfg->qlog.dnstap_file;
	for (size_t i = 0; i < cfg->policy.n_sources && n < cap; i++)
		if (cfg->policy.sources[i].n_primaries)
			out[n++] = cfg->policy.sources[i].file;
	return n;
}

/* The directory part of @p path into @p dir ("." when there is none). */
static void dir_of(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(dir, cap, ".");
	else if (slash == path)
		snprintf(dir, cap, "/");
	else
		snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

/* Is @p path inside directory @p dir (or @p dir itself)?  Its part below @p dir. */
static const char *is_inside(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (strncmp(path, dir, n) || (path[n] != '/' && path[n] != '\0'))
		return NULL;
	for (path += n; *path == '/'; path++)
		;
	return path;
}

/* mkdir -p @p path: missing parents 0755, the last one @p mode.  0 or -errno. */
static int make_dirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	struct stat st;

	if ((size_t)snprintf(buf, sizeof(buf), "%s", path) >= sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	if (stat(buf, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* The directory open as @p fd (its name @p dir, for messages) belongs to the user. */
static int own_fd(const struct vg_privs *p, int fd, const char *dir, const char *key,
		  FILE *errout)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		fprintf(errout, "vigil: %s: %s: %s\n", key, dir, strerror(errno));
		return VG_ECONFIG;
	}
	if (st.st_uid == p->uid && st.st_gid == p->gid)
		return 0;
	if (fchown(fd, p->uid, p->gid) < 0) { /* the directory opened: no name followed */
		fprintf(errout, "vigil: %s: cannot give %s to user %s: %s\n", key, dir, p->user,
			strerror(errno));
		return VG_ECONFIG;
	}
	vg_log(VG_LOG_NOTICE, "%s: %s now belongs to user %s", key, dir, p->user);
	return 0;
}

/*
 * The state directory exists (created when missing) and belongs to the user;
 * its descriptor in *@p fd.  Its parents are root's (the administrator's);
 * when it is itself a symbolic link, the link's target is the
 * administrator's: opened, not changed.
 */
static int own_state_dir(const struct vg_privs *p, const char *dir, int *fd, FILE *errout)
{
	const char *key = "server.state-directory";
	int r = make_dirs(dir, 0750);

	*fd = r < 0 ? r : open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*fd < 0 && r == 0 && errno == ELOOP) {
		*fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (*fd >= 0)
			return 0;
	}
	if (*fd < 0) {
		fprintf(errout, "vigil: %s: cannot create the directory %s: %s\n", key, dir,
			strerror(r < 0 ? -r : errno));
		return VG_ECONFIG;
	}
	r = own_fd(p, *fd, dir, key, errout);
	if (r < 0) {
		close(*fd);
		*fd = -1;
	}
	return r;
}

/*
 * The directory @p rel inside the state directory (open as @p base) exists
 * and belongs to the user.  The user owns the state directory and so may
 * have put links in it: every component is opened without following a link
 * (O_NOFOLLOW, from the descriptor of the one before), made when missing
 * (root's, 0755; the last one 0750), and only the last one is given to the
 * user, by its descriptor.  A link on the way (or "..") is left alone:
 * nothing below it is made or changed (the check as the user reports it
 * when the user cannot write there).
 */
static int own_sub_dir(const struct vg_privs *p, int base, const char *state_dir,
		       const char *rel, FILE *errout)
{
	const char *key = "server.state-directory";
	char buf[PATH_MAX], full[PATH_MAX + 8];
	char *save = NULL, *comp, *next;
	int fd = dup(base), r = 0;

	snprintf(full, sizeof(full), "%s/%s", state_dir, rel);
	if ((size_t)snprintf(buf, sizeof(buf), "%s", rel) >= sizeof(buf))
		r = -ENAMETOOLONG;
	else if (fd < 0)
		r = -errno;
	for (comp = strtok_r(buf, "/", &save); r == 0 && comp; comp = next) {
		next = strtok_r(NULL, "/", &save);
		if (!strcmp(comp, "."))
			continue;
		if (!strcmp(comp, ".."))
			goto out; /* outside: not the user's to have */
		int sub = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0 && errno == ENOENT) {
			if (mkdirat(fd, comp, next ? 0755 : 0750) < 0 && errno != EEXIST) {
				r = -errno;
				break;
			}
			sub = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (sub < 0) {
			struct stat st;
			if ((errno == ELOOP || errno == ENOTDIR) &&
			    fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
				goto out; /* a link: not followed, not changed */
			r = -errno;
			break;
		}
		close(fd);
		fd = sub;
	}
	if (r < 0) {
		fprintf(errout, "vigil: %s: cannot create the directory %s: %s\n", key, full,
			strerror(-r));
		r = VG_ECONFIG;
		goto out;
	}
	r = own_fd(p, fd, full, key, errout);
out:
	if (fd >= 0)
		close(fd);
	return r;
}

/* Child: become the user (no capability left) and test every access; one
 * line per problem to @p fd ("E ..." an error, "W ..." a warning). */
static void check_child(const struct vg_privs *p, const struct vg_config *cfg, int fd)
{
	const char *files[MAX_FILES];
	size_t n = vg_privs_written_files(cfg, files, MAX_FILES);
	char dir[PATH_MAX], line[PATH_MAX + 128];
	int bad = 0;

	if (setgroups(1, &p->gid) < 0 || setresgid(p->gid, p->gid, p->gid) < 0 ||
	    setresuid(p->uid, p->uid, p->uid) < 0) {
		dprintf(fd, "E cannot become user %s to check its access: %s\n", p->user,
			strerror(errno));
		_exit(1);
	}
	if (access(cfg->run.state_dir, W_OK | X_OK) < 0) {
		dprintf(fd, "E server.state-directory %s: not writable by user %s: %s\n",
			cfg->run.state_dir, p->user, strerror(errno));
		bad = 1;
	}
	for (size_t i = 0; i < n; i++) {
		dir_of(files[i], dir, sizeof(dir));
		/* written to a temporary file and renamed (or appended to) */
		if (access(dir, W_OK | X_OK) < 0)
			snprintf(line, sizeof(line), "E %s: its directory %s is not writable by "
				 "user %s: %s\n", files[i], dir, p->user, strerror(errno));
		else if (access(files[i], R_OK | W_OK) < 0 && errno != ENOENT)
			snprintf(line, sizeof(line), "E %s: not readable and writable by user %s: "
				 "%s (chown it to %s)\n", files[i], p->user, strerror(errno),
				 p->user);
		else
			continue;
		dprintf(fd, "%s", line);
		bad = 1;
	}
	if (cfg->source_file[0] && access(cfg->source_file, R_OK) < 0)
		dprintf(fd, "W %s: not readable by user %s (%s): a reload (SIGHUP) will fail; "
			"make it readable by the user (e.g. root:%s, mode 0640)\n",
			cfg->source_file, p->user, strerror(errno), p->user);
	_exit(bad);
}

/* Fork a child that checks as the user; its findings go to errout / the log. */
static int check_as_user(const struct vg_privs *p, const struct vg_config *cfg, FILE *errout)
{
	int fds[2], status = 0, ret = 0;
	char buf[8192];
	size_t len = 0;
	ssize_t got;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL); /* nothing buffered is written twice */
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		close(fds[0]);
		close(fds[1]);
		return ret;
	}
	if (pid == 0) {
		close(fds[0]);
		check_child(p, cfg, fds[1]);
	}
	close(fds[1]);
	while (len < sizeof(buf) - 1 &&
	       ((got = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0 ||
		(got < 0 && errno == EINTR)))
		len += got > 0 ? (size_t)got : 0;
	buf[len] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	for (char *l = buf, *nl; *l; l = nl) {
		nl = strchr(l, '\n');
		nl = nl ? (*nl = '\0', nl + 1) : l + strlen(l);
		if (l[0] == 'W')
			vg_log(VG_LOG_WARNING, "%s", l + 2);
		else
			fprintf(errout, "vigil: %s\n", l + 2);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		ret = VG_ECONFIG;
	return ret;
}

int vg_privs_prepare(struct vg_privs *p, const struct vg_config *cfg, FILE *errout)
{
	const char *files[MAX_FILES];
	char dir[PATH_MAX];
	struct passwd *pw;
	size_t n;
	int r, sfd;

	memset(p, 0, sizeof(*p));
	if (geteuid() != 0)
		return 0; /* not root: no user to change to */
	if (!cfg->run.user[0]) {
		vg_log(VG_LOG_WARNING, "server.user is empty: vigil keeps running as root");
		return 0;
	}
	errno = 0;
	pw = getpwnam(cfg->run.user);
	if (!pw) {
		fprintf(errout, "vigil: server.user: there is no user '%s' on this system%s%s; "
			"create it (adduser --system --group %s), name another, or set "
			"server.user: \"\" to keep running as root\n", cfg->run.user,
			errno ? ": " : "", errno ? strerror(errno) : "", cfg->run.user);
		return VG_ECONFIG;
	}
	if (pw->pw_uid == 0) {
		vg_log(VG_LOG_WARNING, "server.user '%s' is root: vigil keeps running as root",
		       cfg->run.user);
		return 0;
	}
	p->change_user = true;
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	snprintf(p->user, sizeof(p->user), "%s", cfg->run.user);
	r = own_state_dir(p, cfg->run.state_dir, &sfd, errout);
	if (r < 0)
		return r;
	/* the directories of the written files inside the state directory too */
	n = vg_privs_written_files(cfg, files, MAX_FILES);
	for (size_t i = 0; i < n; i++) {
		const char *rel;
		dir_of(files[i], dir, sizeof(dir));
		rel = is_inside(dir, cfg->run.state_dir);
		if (rel && rel[0] &&
		    (r = own_sub_dir(p, sfd, cfg->run.state_dir, rel, errout)) < 0) {
			close(sfd);
			return r;
		}
	}
	close(sfd);
	r = check_as_user(p, cfg, errout);
	if (r < 0)
		fprintf(errout, "vigil: not starting: user %s must be able to write the files "
			"above (server.user, server.state-directory)\n", p->user);
	return r < 0 ? VG_ECONFIG : 0;
}

/* ---- capabilities ---- */

static int caps_get(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };

	memset(data, 0, 2 * sizeof(data[0]));
	return syscall(SYS_capget, &hdr, data) < 0 ? -errno : 0;
}

static bool caps_any(const struct __user_cap_data_struct data[2])
{
	return data[0].effective | data[0].permitted | data[0].inheritable | data[1].effective |
	       data[1].permitted | data[1].inheritable;
}

/* Empty the permitted, effective and inheritable sets (and so the ambient one). */
static int caps_clear(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	return syscall(SYS_capset, &hdr, data) < 0 ? -errno : 0;
}

/* Empty the bounding set: no later execve could gain a capability back. */
static int bounding_clear(void)
{
	for (int cap = 0; cap <= 63; cap++) {
		int has = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (has < 0)
			break; /* past the kernel's last capability */
		if (has && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return -errno;
	}
	return 0;
}

static int become_user(const struct vg_privs *p)
{
	int r = bounding_clear();

	if (r < 0) {
		vg_log(VG_LOG_ERR, "cannot empty the capability bounding set: %s", strerror(-r));
		return r;
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 || setgroups(1, &p->gid) < 0 ||
	    setresgid(p->gid, p->gid, p->gid) < 0 || setresuid(p->uid, p->uid, p->uid) < 0) {
		r = -errno;
		vg_log(VG_LOG_ERR, "cannot become user %s (uid %u, gid %u): %s", p->user,
		       (unsigned)p->uid, (unsigned)p->gid, strerror(-r));
		return r;
	}
	if (setuid(0) == 0 || setgid(0) == 0) {
		vg_log(VG_LOG_ERR, "after becoming user %s, vigil could become root again", p->user);
		return VG_EINVAL;
	}
	return 0;
}

int vg_privs_drop(const struct vg_privs *p)
{
	struct __user_cap_data_struct data[2];
	int r;

	if (!p->change_user && geteuid() == 0)
		return 0; /* root on purpose (server.user ""), warned about at start-up */
	r = p->change_user ? become_user(p) : 0;
	if (r < 0)
		return r;
	r = caps_get(data);
	if (r == 0 && caps_any(data))
		r = caps_clear(); /* started as a user with capabilities (systemd's Ambient) */
	if (r == 0)
		r = caps_get(data);
	if (r == 0 && caps_any(data))
		r = VG_EINVAL;
	if (r < 0) {
		vg_log(VG_LOG_ERR, "cannot drop every capability: %s", vg_strerror(r));
		return r;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		r = -errno;
		vg_log(VG_LOG_ERR, "cannot set no_new_privs: %s", strerror(-r));
		return r;
	}
	if (p->change_user)
		vg_log(VG_LOG_NOTICE, "running as user %s (uid %u, gid %u), without capabilities",
		       p->user, (unsigned)p->uid, (unsigned)p->gid);
	else
		vg_log(VG_LOG_INFO, "running as uid %u, without capabilities", (unsigned)getuid());
	return 0;
}
