"""Missions: planning (``plan/``: area → routes → sorties → MAVLink items → files) and flying
(``fly/``: link, transfers, flight). ``fly`` reads what ``plan`` wrote; ``plan`` never imports
``fly``."""
