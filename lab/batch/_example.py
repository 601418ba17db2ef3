"""The example job file of ``lab batch --example`` (``lab batch --print-example`` prints it).

Examples
--------
>>> from lab.batch._spec import parse_batch
>>> spec = parse_batch(EXAMPLE)
>>> len(spec.jobs), sorted(spec.economies)
(17, ['synthetic', 'uk'])
"""

EXAMPLE = """\
# An example batch: labour values under scenario changes, on a table shipped with
# lab and on a generated economy. `lab batch --example` runs it (in well under a
# minute); `lab batch --print-example > jobs.toml` gives you a copy to edit, and
# `lab batch jobs.toml --out results` runs your copy.

[batch]
format = "csv"                       # or "parquet"

[economies.uk]
dataset = "uk-2010"                  # 127 products; labour = compensation of employees

[economies.synthetic]                # 50,000 products; resources labour, energy, co2
generate = { n_products = 50000, seed = 1 }

[defaults]                           # applied to every job below
economy = "synthetic"
options = { method = "auto", rtol = 1e-10 }   # the fields of lab.ValuesOptions

[[jobs]]
name = "uk-base"
economy = "uk"

[[jobs]]
name = "uk-cheaper-farming"          # agriculture (code 01) uses 20 % less of every input
economy = "uk"
[[jobs.changes]]
type = "coefficients"
product = "01"
factor = 0.8

[[jobs]]
name = "base"
resources = "all"                    # labour, energy and CO2 embodied in every product

[[jobs]]
name = "clean-electricity"           # product P7 emits no CO2 and uses less energy
resources = ["energy", "co2"]
[[jobs.changes]]
type = "set_resource"
resource = "co2"
values = { P7 = 0.0 }
[[jobs.changes]]
type = "scale_resource"
resource = "energy"
products = ["P7"]
factor = 0.5

[[jobs]]
name = "new-recipe"                  # P12 gets a new input, P3, and needs 10 % less of the others
[[jobs.changes]]
type = "coefficients"
product = "P12"
values = { P3 = 0.01 }
factor = 0.9

[[jobs]]
name = "krylov-check"                # the same values by another method
options = { method = "krylov" }

[[jobs]]
name = "plan"                        # a harmony-balanced plan: targets, limited labour
kind = "plan"
options = { method = "harmony", gap = 1e-6 }  # the fields of lab.PlanOptions
[[jobs.changes]]
type = "targets"
values = { P1 = 100.0, P2 = 50.0, P3 = 80.0, P4 = 20.0 }
[[jobs.changes]]
type = "availability"
values = { labour = 1000.0 }

[[grids]]                            # one job per value: labour productivity growth
name = "labour-{factor}"
parameters = { factor = [1.0, 0.98, 0.96, 0.94, 0.92, 0.9, 0.88, 0.86, 0.84, 0.82] }
changes = [{ type = "scale_resource", resource = "labour", factor = "{factor}" }]
"""
