"""File input/output: meshes (``mesh``: OBJ/MTL/PNG, PLY; ``gltf``: GLB with named morph targets), parameters
(``params``: JSON/NPZ) and atomic writes (``atomic``). Import the submodules directly."""
