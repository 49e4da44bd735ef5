"""Helpers for writing recorded sysfs/dev trees (make_jbod_tree.py, bench/disks/make_tree.py)."""
import os


class Tree:
    def __init__(self, root):
        self.root = root

    def write(self, path, value):
        """An attribute file with `value` and the kernel's trailing newline."""
        path = os.path.join(self.root, path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(value + "\n")

    def link(self, path, target):
        """A symlink; targets are relative so the tree works wherever it lies."""
        path = os.path.join(self.root, path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(target, path)

    def rel(self, from_dir, to):
        """`to` relative to the directory `from_dir`, both inside the tree."""
        return os.path.relpath(os.path.join(self.root, to), os.path.join(self.root, from_dir))
