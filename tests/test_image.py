"""The OCI image: `./bootstrap.sh image` writes dist/image.tar, an OCI image layout (an
oci-archive) FROM scratch whose one layer holds what dist/code.zip holds, plus an empty /tmp.
Read here as a runtime reads it: index.json -> manifest -> config and layers, each checked
against its digest. Then the layer, unpacked into an empty root with nothing but a static
busybox as /bin/sh, runs its entrypoint chrooted there, as user 65534 when the test is root, and
serves SayHello to a client outside: as tests/test_package.py does for the zip.

Runs once: the sanitizer build skips it. Needs umoci (./bootstrap.sh installs it) and root or
user namespaces for chroot.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import unittest
import zipfile

import grpc
import yaml

from harness import SANITIZED, SOURCE_DIR, pb, rpc
from test_package import (BUSYBOX, ZIP, PackagedHost, bootstrap_sh, has_interpreter,
                          namespace_prefix, remove_roots)

IMAGE = os.path.join(SOURCE_DIR, "dist", "image.tar")
DEPLOY = os.path.join(SOURCE_DIR, "deploy")


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class ImageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if SANITIZED:
            raise unittest.SkipTest("sanitizer build: the image is tested once, in the plain build")
        if not shutil.which("umoci"):
            raise unittest.SkipTest("umoci is missing: ./bootstrap.sh installs it")
        cls.build_output = bootstrap_sh("image")
        cls.tmp = tempfile.mkdtemp(prefix="hostimage-")
        with tarfile.open(IMAGE) as t:
            cls.files = {m.name.lstrip("./"): t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
        cls.index = json.loads(cls.files["index.json"])
        cls.manifest_bytes = cls.blob(cls.index["manifests"][0]["digest"])
        cls.manifest = json.loads(cls.manifest_bytes)
        cls.config = json.loads(cls.blob(cls.manifest["config"]["digest"]))
        cls.layers = [cls.blob(l["digest"]) for l in cls.manifest["layers"]]

    @classmethod
    def tearDownClass(cls):
        remove_roots(cls.tmp)

    @classmethod
    def blob(cls, digest):
        algorithm, hexdigest = digest.split(":")
        data = cls.files["blobs/%s/%s" % (algorithm, hexdigest)]
        if sha256(data) != digest:
            raise AssertionError("blob %s does not match its digest" % digest)
        return data

    # --- what a runtime reads ----------------------------------------------------------
    def test_layout_index_and_manifest(self):
        self.assertEqual(json.loads(self.files["oci-layout"]), {"imageLayoutVersion": "1.0.0"})
        self.assertEqual(len(self.index["manifests"]), 1)
        entry = self.index["manifests"][0]
        self.assertEqual(entry["mediaType"], "application/vnd.oci.image.manifest.v1+json")
        self.assertEqual(entry["annotations"]["org.opencontainers.image.ref.name"], "latest")
        self.assertEqual(entry["size"], len(self.manifest_bytes))
        self.assertEqual(self.manifest["config"]["mediaType"], "application/vnd.oci.image.config.v1+json")
        self.assertEqual([l["mediaType"] for l in self.manifest["layers"]],
                         ["application/vnd.oci.image.layer.v1.tar+gzip"])   # FROM scratch: one layer

    def test_config_runs_bootstrap_on_8089_as_nobody(self):
        c = self.config
        self.assertEqual((c["os"], c["architecture"]), ("linux", "amd64"))
        self.assertEqual(c["config"]["Entrypoint"], ["/bootstrap"])
        self.assertNotIn("Cmd", c["config"])
        self.assertEqual(c["config"]["ExposedPorts"], {"8089/tcp": {}})
        self.assertEqual(c["config"]["User"], "65534:65534")
        self.assertEqual(c["rootfs"]["diff_ids"], [sha256(gzip.decompress(l)) for l in self.layers])

    def test_the_layer_holds_what_the_zip_holds(self):
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(self.layers[0]))) as t, \
                zipfile.ZipFile(ZIP) as z:
            members = {m.name.strip("./"): m for m in t.getmembers()}
            files = {name: t.extractfile(m).read() for name, m in members.items() if m.isfile()}
            zipped = {name: z.read(name) for name in z.namelist() if not name.endswith("/")}
        self.assertEqual(files.keys(), zipped.keys())
        self.assertEqual(files, zipped)
        self.assertEqual(members["bootstrap"].mode & 0o7777, 0o755)
        self.assertTrue(members["tmp"].isdir())
        self.assertEqual(members["tmp"].mode & 0o7777, 0o1777)
        self.assertIn("KiB; dist/code.zip", self.build_output)   # the two sizes, side by side

    # --- the root file system, run --------------------------------------------------------
    def test_its_root_file_system_serves_in_an_empty_chroot(self):
        prefix = namespace_prefix()
        if prefix is None:
            self.skipTest("cannot chroot here: neither root nor user namespaces")
        root = os.path.join(self.tmp, "root")
        os.mkdir(root)
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(self.layers[0]))) as t:
            t.extractall(root, numeric_owner=True)
        self.assertFalse(has_interpreter(os.path.join(root, "bootstrap")))
        os.makedirs(os.path.join(root, "bin"))
        shutil.copy(BUSYBOX, os.path.join(root, "bin", "sh"))
        os.mkdir(os.path.join(root, "proc"))
        c = self.config["config"]
        [program] = c["Entrypoint"]
        user = c["User"] if os.geteuid() == 0 else None     # a user namespace maps only root
        with PackagedHost(root, prefix, {"FC_CUSTOM_LISTEN_PORT": "0"}, program=program,
                          userspec=user) as host:
            self.assertIn("helloworld.Greeter", host.ready_line)
            with grpc.insecure_channel(host.target) as ch:
                stub = pb.helloworld_grpc.GreeterStub(ch)
                resp, code, details, _ = rpc(stub.SayHello, pb.helloworld.HelloRequest(name="oci"),
                                             timeout=10)
            self.assertEqual(code, grpc.StatusCode.OK, details)
            self.assertEqual(resp.message, "Hello oci")
            self.assertEqual(host.stop(), 0, host.output())


class ManifestsTest(unittest.TestCase):
    def load(self, name):
        with open(os.path.join(DEPLOY, name)) as f:
            return list(yaml.safe_load_all(f))

    def check_container(self, container, port_name):
        port = container["ports"][0]
        self.assertEqual((port["name"], port["containerPort"]), (port_name, 8089))
        for probe in ("readinessProbe", "livenessProbe"):
            self.assertEqual(container[probe]["grpc"]["port"], 8089, probe)
        args = container["args"]
        return int(args[args.index("--grace-ms") + 1])

    def test_knative_routes_http2_probes_grpc_and_waits_for_streams(self):
        [svc] = self.load("knative.yaml")
        self.assertEqual((svc["apiVersion"], svc["kind"]), ("serving.knative.dev/v1", "Service"))
        spec = svc["spec"]["template"]["spec"]
        grace_ms = self.check_container(spec["containers"][0], "h2c")
        self.assertGreaterEqual(spec["timeoutSeconds"], 300)
        self.assertLess(grace_ms, spec["timeoutSeconds"] * 1000)   # Knative's termination grace

    def test_kubernetes_deployment_and_service(self):
        deployment, service = self.load("kubernetes.yaml")
        self.assertEqual((deployment["kind"], service["kind"]), ("Deployment", "Service"))
        pod = deployment["spec"]["template"]["spec"]
        grace_ms = self.check_container(pod["containers"][0], "grpc")
        self.assertLess(grace_ms, pod["terminationGracePeriodSeconds"] * 1000)
        self.assertEqual(service["spec"]["ports"][0]["port"], 8089)
        self.assertEqual(service["spec"]["selector"], deployment["spec"]["selector"]["matchLabels"])


if __name__ == "__main__":
    unittest.main()
