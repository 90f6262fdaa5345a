"""Extension objects shared by the factory, the models' helpers and the jobs."""
from flask_appbuilder import Model
from flask_appbuilder.models.sqla.base import SQLA
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

# FAB's declarative Model carries the metadata of every table, FAB's own included.
db = SQLA(metadata=Model.metadata)
migrate = Migrate()
csrf = CSRFProtect()
