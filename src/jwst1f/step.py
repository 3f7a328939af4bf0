"""``Destripe1fStep``: the jwst1f 1/f destriper as an stpipe step (alias ``destripe_1f``).

Run it on a rate or rateints file from the shell, with no reference file and no CRDS server::

    STPIPE_DISABLE_CRDS_STEPPARS=true strun destripe_1f jw..._rate.fits --clip_sigma=2.5

(``strun jwst1f.step.Destripe1fStep ...`` works too), from Python::

    from jwst1f.step import Destripe1fStep
    corrected = Destripe1fStep.call("jw..._rate.fits")

or inside a jwst pipeline, e.g. after ramp fitting in Detector1::

    Detector1Pipeline.call("x_uncal.fits",
                           steps={"gain_scale": {"post_hooks": ["jwst1f.step.Destripe1fStep"]}})

The step parameters mirror :class:`jwst1f.params.DestripeParams` field by field (same names);
a parameter left at ``None`` takes its value from ``params_file`` if given, else the default.
The step returns a corrected copy (an ``ImageModel`` or ``CubeModel``), records
``meta.cal_step.destripe_1f`` and the ``J1FSTAT``/``J1FVERS``/``J1FPARS`` primary-header
keywords, and adds the model variance to VAR_RNOISE and ERR unless ``update_variance=False``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any

import numpy as np
from jwst.stpipe import Step

__all__ = ["Destripe1fStep", "build_spec"]

log = logging.getLogger(__name__)

_STEP_OPTIONS = """
    params_file = string(default=None)  # YAML parameter file (flat or layered), as jwst1f destripe --params
    user_mask = string(default=None)  # FITS or .npy mask; non-zero pixels are never used as background
    update_variance = boolean(default=True)  # Add the stripe-model variance to VAR_RNOISE and ERR
    save_stripe_model = boolean(default=False)  # Save the stripe model as <root>_rate_1fmodel.fits (jwst1f destripe --save-model)
"""  # noqa: E501


def _spec_line(f: dataclasses.Field) -> str:
    tname = str(f.type)
    if tname == "bool":
        kind = "boolean"
    elif tname == "int":
        kind = "integer"
    elif tname == "float":
        kind = "float"
    else:
        kind = "string"
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    if isinstance(default, tuple):
        default = ",".join(str(v) for v in default)
    try:
        from jwst1f.io import _field_doc

        doc = _field_doc(f.name)
    except Exception:  # pragma: no cover - documentation only
        doc = ""
    doc = re.sub(r"\s*Default\b.*$", "", doc).replace("#", "")  # the default is said below
    first = doc.split(". ")[0].rstrip(".") if doc else "jwst1f parameter"
    return f"    {f.name} = {kind}(default=None)  # {first} (None: {default})"


def build_spec() -> str:
    """The configobj spec of :class:`Destripe1fStep`: step options plus every destriper parameter.

    Returns
    -------
    str
    """
    try:
        from jwst1f.params import DestripeParams
    except ImportError:  # pragma: no cover - the core is always installed with the package
        return _STEP_OPTIONS
    lines = [_spec_line(f) for f in dataclasses.fields(DestripeParams)]
    return _STEP_OPTIONS + "\n".join(lines) + "\n"


def _put(model: Any, name: str, values: np.ndarray, source: Any) -> None:
    """Set array ``name`` of ``model`` to ``values`` (converted to its dtype).

    Written into the model's own array where that array is writable, of the same shape and
    not shared with ``source`` (the step's input, which must stay untouched); assigned
    otherwise. Assigning a new array makes the datamodel validate it against its schema,
    about 10 ms per array for a full frame; writing in place does not.
    """
    arr = getattr(model, name, None)
    src = getattr(source, name, None)  # (None for a file name)
    if (
        isinstance(arr, np.ndarray)
        and arr.shape == np.shape(values)
        and arr.flags.writeable
        and not (isinstance(src, np.ndarray) and np.may_share_memory(arr, src))
    ):
        arr[...] = values
    else:
        dtype = arr.dtype if isinstance(arr, np.ndarray) else np.float32
        setattr(model, name, np.asarray(values, dtype=dtype))


class Destripe1fStep(Step):
    """Remove 1/f stripes from a rate (ImageModel) or rateints (CubeModel) exposure."""

    class_alias = "destripe_1f"
    spec = build_spec()
    reference_file_types: list[str] = []

    @staticmethod
    def get_stpipe_loggers() -> tuple[str, ...]:
        """Loggers that stpipe configures: jwst's plus ``jwst1f``."""
        return (*Step.get_stpipe_loggers(), "jwst1f")

    def _param_overrides(self) -> dict[str, Any]:
        from jwst1f.params import DestripeParams

        out = {}
        for name in DestripeParams.field_names():
            value = getattr(self, name, None)
            if value is not None:
                out[name] = value
        return out

    def process(self, input_data: Any) -> Any:
        """Destripe a copy of ``input_data``.

        Parameters
        ----------
        input_data : str, Path, ImageModel or CubeModel
            A rate (2-D) or rateints (3-D) exposure.

        Returns
        -------
        ImageModel or CubeModel
            The corrected copy; unchanged with ``meta.cal_step.destripe_1f = "SKIPPED"`` if the
            exposure type is not supported.
        """
        from stdatamodels.jwst import datamodels

        from jwst1f.destripe import destripe
        from jwst1f.geometry import UnsupportedExposureError, layout_from_model
        from jwst1f.io import (
            STATUS_COMPLETE,
            STATUS_SKIPPED,
            add_model_variance,
            history_line,
            load_user_mask,
            model_hdul,
            params_for_header,
            provenance_cards,
        )

        model = self.prepare_output(input_data)
        if not isinstance(model, (datamodels.ImageModel, datamodels.CubeModel)):
            raise TypeError(
                f"destripe_1f needs a rate (ImageModel) or rateints (CubeModel) exposure, "
                f"not {type(model).__name__}"
            )
        try:
            layout = layout_from_model(model)
        except UnsupportedExposureError as exc:
            log.warning("destripe_1f skipped: %s", exc)
            self._record(model, STATUS_SKIPPED, [("J1FSTAT", STATUS_SKIPPED, "jwst1f status")])
            return model

        header = {
            "INSTRUME": model.meta.instrument.name,
            "EXP_TYPE": model.meta.exposure.type,
            "DETECTOR": model.meta.instrument.detector,
        }
        params: Any = None
        if self.params_file:
            from jwst1f.params import load_params_file

            params = load_params_file(self.params_file)
        overrides = self._param_overrides()
        if overrides:
            from jwst1f.io import _merge_overrides

            params = _merge_overrides(params, overrides)
        prm = params_for_header(params, header)
        umask = load_user_mask(self.user_mask, tuple(np.shape(model.data)[-2:]))
        dq = model.dq if model.hasattr("dq") and model.dq is not None else None

        result = destripe(np.asarray(model.data), layout, dq=dq, user_mask=umask, params=prm)
        _put(model, "data", result.corrected, input_data)
        if self.update_variance:
            var = model.var_rnoise if model.hasattr("var_rnoise") else None
            err = model.err if model.hasattr("err") else None
            new_v, new_e = add_model_variance(result.model_var, var_rnoise=var, err=err)
            if new_v is not None:
                _put(model, "var_rnoise", new_v, input_data)
            if new_e is not None:
                _put(model, "err", new_e, input_data)
        metrics = dict(result.metrics)
        cards = provenance_cards(STATUS_COMPLETE, prm.to_dict(), metrics, self.update_variance)
        self._record(model, STATUS_COMPLETE, cards, history_line(STATUS_COMPLETE, metrics))
        log.info(
            "destripe_1f: %s %s %s, %d channel(s), %.3f s",
            layout.instrument,
            layout.detector,
            layout.subarray,
            layout.n_channels,
            float(metrics.get("seconds", float("nan"))),
        )
        if self.save_stripe_model:
            # <root>_rate_1fmodel.fits / <root>_rateints_1fmodel.fits, as jwst1f destripe names
            # it, whatever the current file name (inside Detector1 it is still the uncal's)
            product = "rateints" if isinstance(model, datamodels.CubeModel) else "rate"
            path = self.make_output_path(basepath=model.meta.filename, suffix=f"{product}_1fmodel")
            from jwst1f.io import _write_hdul

            hdr = dict(header)
            hdr.update(
                {
                    "FILENAME": model.meta.filename,
                    "SUBARRAY": model.meta.subarray.name,
                    "FASTAXIS": model.meta.subarray.fastaxis,
                    "SLOWAXIS": model.meta.subarray.slowaxis,
                }
            )
            _write_hdul(model_hdul(hdr, result, cards), _path(path), checksum=False)
            log.info("saved stripe model %s", path)
        return model

    def _record(
        self, model: Any, status: str, cards: list[tuple[str, Any, str]], history: str = ""
    ) -> None:
        """Status in ``meta.cal_step`` and provenance keywords in the primary header."""
        try:
            setattr(model.meta.cal_step, self.class_alias, status)
        except AttributeError:  # pragma: no cover - every jwst model has cal_step
            pass
        extra = model.extra_fits.instance if model.hasattr("extra_fits") else {}
        primary = dict(extra.get("PRIMARY", {}))
        kept = [c for c in primary.get("header", []) if not str(c[0]).startswith("J1F")]
        primary["header"] = kept + [[k, v, c] for k, v, c in cards]
        extra = dict(extra)
        extra["PRIMARY"] = primary
        model.extra_fits = extra
        if history:
            model.add_history_entry(history)


def _path(p: Any):
    from pathlib import Path

    return Path(p)


def _get_steps() -> list[tuple[str, str, bool]]:
    """Steps provided to stpipe (``stpipe.steps`` entry point): (class, alias, is_pipeline)."""
    return [("jwst1f.step.Destripe1fStep", "destripe_1f", False)]
