"""N2FNet (seed 003): a feed-forward regressor from a face's camera-frame normal map to ICT-FaceKit parameters.

``network`` (the model), ``losses`` (eqs. 4, 5), ``rendering`` (what the network sees, for the rendering loss),
``data`` (streamed synthetic batches), ``train`` (two-stage training, ``python -m faceforge.fit.n2fnet.train``),
``infer`` (the shipped weights applied to normal or depth maps), ``refine`` (the normal-map fit: the hybrid
from the network's prediction, or the optimization fit from the mean face).
"""
