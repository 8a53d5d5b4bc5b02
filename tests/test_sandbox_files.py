"""--files: the directories io.open (io.lines, io.input, io.output, os.remove, os.rename) may
reach. By default the scripts directory read-only and /tmp read-write; paths are judged after
'..' and symbolic links are resolved; a refusal names the option. Each test's handler tries
one file operation and answers what Lua gave back."""

import os
import shutil
import tempfile
import unittest

import grpc

from harness import Host, pb, rpc, run_host_once, EXAMPLE_PROTOSET

# SayHello runs the Lua expression in req.name (its arguments from upvalue `arg`) in pcall and
# answers "ok|<first result>|<second result>" or "error|<message>".
TRY = """
local M = {}
function M.SayHello(req)
  local f = load("return " .. req.name, "try", "t", _ENV)
  local ok, a, b = pcall(f)
  if not ok then return { message = "error|" .. tostring(a) } end
  if io.type(a) == "file" then a:close() a = "file" end
  return { message = "ok|" .. tostring(a) .. "|" .. tostring(b) }
end
return M
"""


class FilesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = os.path.realpath(tempfile.mkdtemp(prefix="hostfiles-"))
        self.data = os.path.join(self.tmp, "data")        # outside every allowed directory
        self.out = os.path.join(self.tmp, "out")
        os.mkdir(self.data)
        os.mkdir(self.out)
        with open(os.path.join(self.data, "secret.txt"), "w") as f:
            f.write("secret\n")

    def tearDown(self):
        shutil.rmtree(self.tmp, True)

    def host(self, files=None):
        args = [] if files is None else ["--files", files]
        scripts = os.path.join(self.tmp, "scripts")
        os.mkdir(scripts)
        with open(os.path.join(scripts, "greeter.lua"), "w") as f:
            f.write(TRY)
        with open(os.path.join(scripts, "notes.txt"), "w") as f:
            f.write("a note\n")
        self.scripts = scripts
        return Host(scripts=scripts, protosets=[EXAMPLE_PROTOSET], args=args)

    def attempt(self, host, expr):
        resp, code, details, _ = rpc(host.greeter_stub().SayHello, pb.helloworld.HelloRequest(name=expr))
        self.assertEqual(code, grpc.StatusCode.OK, details)
        return resp.message

    def test_default_reads_scripts_writes_tmp_and_nothing_else(self):
        with self.host() as h:
            self.assertEqual(self.attempt(h, 'io.open("%s/notes.txt"):read("l")' % self.scripts), "ok|a note|nil")
            target = os.path.join(tempfile.gettempdir(), "hostfiles-%d.txt" % os.getpid())
            try:
                self.assertEqual(self.attempt(h, 'io.open("%s", "w"):write("x") and "written"' % target),
                                 "ok|written|nil")
                self.assertTrue(os.path.exists(target))
            finally:
                if os.path.exists(target):
                    os.remove(target)
            got = self.attempt(h, 'io.open("/etc/hostname")')
            self.assertTrue(got.startswith("ok|nil|/etc/hostname: outside the directories --files"), got)

    def test_a_read_only_directory_refuses_writes(self):
        # The test's scripts directory lies under /tmp, which the default lets scripts write: an
        # explicit --files says the scripts directory alone, read-only.
        with self.host(files=os.path.join(self.tmp, "scripts")) as h:
            got = self.attempt(h, 'io.open("%s/notes.txt", "a")' % self.scripts)
            self.assertIn("--files lets scripts only read there", got)
            self.assertIn("DIR:rw in --files", got)
            got = self.attempt(h, 'os.remove("%s/notes.txt")' % self.scripts)
            self.assertIn("--files lets scripts only read there", got)
            self.assertTrue(os.path.exists(os.path.join(self.scripts, "notes.txt")))

    def test_given_directories_and_write_access(self):
        with self.host(files="%s:rw,%s:ro" % (self.out, self.data)) as h:
            self.assertEqual(self.attempt(h, 'io.open("%s/secret.txt"):read("l")' % self.data),
                             "ok|secret|nil")
            self.assertEqual(self.attempt(h, 'io.output("%s/log.txt"):write("1") and "yes"' % self.out),
                             "ok|yes|nil")
            self.assertEqual(self.attempt(
                h, 'os.rename("%s/log.txt", "%s/log2.txt")' % (self.out, self.out)), "ok|true|nil")
            self.assertTrue(os.path.exists(os.path.join(self.out, "log2.txt")))
            got = self.attempt(h, 'io.lines("%s/notes.txt")' % self.scripts)
            self.assertTrue(got.startswith("error|%s/notes.txt: outside" % self.scripts), got)
            self.assertIn("%s read-write, %s read-only" % (self.out, self.data), got)

    def test_dot_dot_and_symlinks_are_resolved_first(self):
        os.symlink(self.data, os.path.join(self.out, "link"))
        os.symlink(os.path.join(self.data, "new.txt"), os.path.join(self.out, "dangling"))
        with self.host(files=self.out + ":rw") as h:
            for path in ("%s/../data/secret.txt" % self.out, "%s/link/secret.txt" % self.out):
                got = self.attempt(h, 'io.open("%s")' % path)
                self.assertIn("outside the directories --files", got, path)
            got = self.attempt(h, 'io.open("%s/dangling", "w")' % self.out)
            self.assertIn("a symbolic link to nothing", got)
            self.assertFalse(os.path.exists(os.path.join(self.data, "new.txt")))

    def test_empty_files_allows_nothing(self):
        with self.host(files="") as h:
            got = self.attempt(h, 'io.open("%s/notes.txt")' % self.scripts)
            self.assertIn("(none: --files is empty)", got)

    def test_a_bad_files_option_is_refused_at_start(self):
        code, out = run_host_once(["--files", "/tmp:rx", "--check"])
        self.assertEqual(code, 2, out)
        self.assertIn("--files: '/tmp:rx' is not DIR, DIR:ro or DIR:rw", out)


if __name__ == "__main__":
    unittest.main()
