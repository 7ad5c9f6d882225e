"""The one-command demo (`rollout demo`): a bad release caught and rolled back, a good one shipped.

* :mod:`~rollout.demo.run` -- :class:`~rollout.demo.run.Demo`: the server with its controller,
  the shop and the shoppers, and the two rollouts of ``examples/demo.yaml``.
* :mod:`~rollout.demo.shop` -- the sample shop (ASGI), its checkout behind ``new-checkout``;
  :mod:`~rollout.demo.behaviour` -- how each checkout version behaves;
  :mod:`~rollout.demo.ledger` -- its orders per arm; :mod:`~rollout.demo.conversions` -- the
  metric command that reads them; :mod:`~rollout.demo.shop_process` -- the shop's process.
* :mod:`~rollout.demo.traffic` -- synthetic shoppers over real HTTP.
* :mod:`~rollout.demo.pace` -- standard and fast timings; :mod:`~rollout.demo.view` -- the
  live view and the plain log; :mod:`~rollout.demo.report` -- the results and the report.

Nothing is imported here: ``python -m rollout.demo.conversions`` runs every few seconds and
must start fast.
"""
