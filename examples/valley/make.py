"""Write this example's synthetic valley DEM (dem.tif): a V valley 80 m deep running
north–south near Wajima (Noto peninsula), 2 km square, 10 m pixels, in UTM 53N.

    python examples/valley/make.py

The area (area.geojson) and obstacles (zones.geojson) lie across it; the files are committed, so
this only needs running to change the terrain.
"""

from pathlib import Path

from missions.plan.terrain_synth import synthetic_valley, write_geotiff
from survey.core.frame import LocalFrame

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    frame = LocalFrame(37.3900, 136.9000)
    dem = synthetic_valley(frame, size_m=2000.0, depth_m=80.0, half_width_m=500.0,
                           along_slope=0.02, base_m=40.0, pixel_m=10.0)
    print(write_geotiff(dem, HERE / "dem.tif"))
