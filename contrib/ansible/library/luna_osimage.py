#!/usr/bin/python3
# Ansible module luna_osimage: a Luna osimage (contrib/ansible/README.md).
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.luna import YESNO, common_args, ensure

DOCUMENTATION = r"""
module: luna_osimage
short_description: Luna osimage objects, through the luna CLI
options:
  name: {description: name of the osimage, required: true, type: str}
  state: {description: present or absent, default: present, type: str}
  luna_bin: {description: the luna command, default: luna, type: str}
  comment: {description: the osimage's comment (passed on stdin), type: str}
  path: {description: root of the image tree, type: str}
  kernver: {type: str}
  kernopts: {type: str}
  dracutmodules: {type: str}
  kernmodules: {type: str}
  grab_filesystems: {type: str}
"""

ADD = [("path", "-p"), ("kernver", "-k"), ("kernopts", "-o")]
FIELDS = [
    ("path", "path", "-p", str),
    ("kernver", "kernver", "-k", str),
    ("kernopts", "kernopts", "-o", str),
    ("dracutmodules", "dracutmodules", "-d", str),
    ("kernmodules", "kernmodules", "-m", str),
    ("grab_filesystems", "grab_filesystems", "-f", str),
]


def main():
    spec = common_args()
    for param, _key, _flag, typ in FIELDS:
        spec[param] = dict(type="bool" if typ == YESNO else ("int" if typ == int else "str"))
    for param, _flag in ADD:
        spec.setdefault(param, dict(type="str"))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    ensure(module, "osimage", ADD, FIELDS)


if __name__ == "__main__":
    main()
