#!/usr/bin/python3
# Ansible module luna_cluster: the Luna cluster (contrib/ansible/README.md).
# `luna cluster init` when there is none (frontend_address needed), then
# `luna cluster change` for the options that differ.
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.luna import COMMENT, YESNO, Luna, as_cli, same

DOCUMENTATION = r"""
module: luna_cluster
short_description: the Luna cluster, through the luna CLI
options:
  frontend_address: {type: str}
  nodeprefix: {type: str}
  nodedigits: {type: int}
  path: {type: str}
  user: {type: str}
  frontend_port: {type: int}
  frontend_https: {type: bool}
  server_port: {type: int}
  cluster_ips: {type: str}
  named_include_file: {type: str}
  named_zone_dir: {type: str}
  comment: {description: the cluster's comment (passed on stdin), type: str}
  luna_bin: {type: str, default: luna}
"""

INIT = ["frontend_address", "nodeprefix", "nodedigits", "path", "user"]
FIELDS = [("frontend_address", str), ("nodeprefix", str), ("nodedigits", int), ("path", str), ("user", str),
          ("frontend_port", int), ("frontend_https", YESNO), ("server_port", int), ("cluster_ips", str),
          ("named_include_file", str), ("named_zone_dir", str)]


def main():
    spec = dict(luna_bin=dict(type="str", default="luna"), comment=dict(type="str"))
    for param, typ in FIELDS:
        spec[param] = dict(type="bool" if typ == YESNO else ("int" if typ == int else "str"))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    luna = Luna(module)
    obj = luna.show("cluster", "general")
    created = False
    diff = dict(before={}, after={})
    if obj is None:
        if not p.get("frontend_address"):
            module.fail_json(msg="There is no cluster yet: frontend_address is needed to create it")
        args = ["cluster", "init"]
        for param in INIT:
            if p.get(param) is not None:
                args += ["--" + param, as_cli(p[param], str)]
        luna.change(args)
        created = True
        if not module.check_mode:
            obj = luna.show("cluster", "general")
    changes = []
    for param, typ in FIELDS:
        if p.get(param) is None or (obj is None and param in INIT):
            continue
        if obj is not None and same(obj.get(param), p[param], typ):
            continue
        changes += ["--" + param, as_cli(p[param], typ)]
        diff["before"][param] = obj.get(param) if obj is not None else None
        diff["after"][param] = p[param]
    if changes:
        luna.change(["cluster", "change"] + changes)
    text_changed = luna.texts(["cluster", "change"], obj, COMMENT, diff)
    module.exit_json(changed=created or bool(changes) or text_changed, commands=luna.commands, diff=diff)


if __name__ == "__main__":
    main()
